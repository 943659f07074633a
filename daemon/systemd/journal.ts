import { fstatSync } from 'node:fs';
import type { DestinationStream } from 'pino';

/** syslog priorities (sd-daemon(3)) of pino's level labels: journalctl -p filters on them. */
const PRIORITY: Readonly<Record<string, number>> = { trace: 7, debug: 7, info: 6, warn: 4, error: 3, fatal: 2 };

/**
 * Whether file descriptor `fd` is connected to the journal: systemd sets JOURNAL_STREAM to the
 * device and inode of the stream it gave the service (systemd.exec(5)); a redirect (`vigild > file`
 * under systemd) gives another inode, and then no prefix is wanted.
 */
export function writesToJournal(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env['JOURNAL_STREAM'];
  if (stream === undefined) return false;
  const [dev, ino] = stream.split(':');
  try {
    const st = fstatSync(fd, { bigint: true });
    return dev !== undefined && ino !== undefined && st.dev === BigInt(dev) && st.ino === BigInt(ino);
  } catch {
    return false;
  }
}

/**
 * Prefixes each JSON line with its syslog priority (`<4>{"level":"warn",…}`), which journald strips
 * and stores as the line's PRIORITY (SyslogLevelPrefix= defaults on): `journalctl -u vigild -p
 * warning` then shows warnings and worse, and the line itself stays plain JSON. The level is the
 * first field of every line (createLogger's formatter), so it is read without parsing the line.
 */
export function journalPriorities(forward: DestinationStream): DestinationStream {
  const head = '{"level":"';
  return {
    write(msg: string): void {
      const end = msg.startsWith(head) ? msg.indexOf('"', head.length) : -1;
      const priority = end > 0 ? PRIORITY[msg.slice(head.length, end)] : undefined;
      forward.write(priority === undefined ? msg : `<${priority}>${msg}`);
    },
  };
}
