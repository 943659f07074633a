import { Command, InvalidArgumentError, Option } from 'commander';
import { errorMessage } from '../../daemon/errors.js';
import { passwordProblem } from '../../daemon/console/passwords.js';
import { ROLES, UserError, UserStore, type Role } from '../../daemon/console/user-store.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';

const STATE_DIR = process.env['VIGIL_STATE_DIR'] ?? '/var/lib/vigil';

const roleOption = (): Option => new Option('--role <role>', 'viewer (look), operator (+ review events, rules), admin (everything)')
  .choices(ROLES);

/** All of stdin, up to the first newline: `printf '%s\n' "$PW" | vigilctl console adduser ana --password-stdin`. */
async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(c);
    size += c.length;
    if (size > 4096) throw new CliError('--password-stdin: more than 4096 bytes on stdin', EXIT.usage);
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** One line from the terminal without echo. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(question);
    let text = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err: Error | null): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new CliError('interrupted', EXIT.failed));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** The new password: from stdin when asked, else typed twice at the terminal; never a default. */
async function newPassword(fromStdin: boolean | undefined): Promise<string> {
  let password: string;
  if (fromStdin) {
    password = await readStdinLine();
  } else {
    if (!process.stdin.isTTY) throw new CliError('no terminal to ask for the password: give it with --password-stdin', EXIT.usage);
    password = await promptHidden('password: ');
    const problem = passwordProblem(password);
    if (problem !== null) throw new CliError(problem, EXIT.usage);
    if (await promptHidden('again: ') !== password) throw new CliError('the two passwords differ', EXIT.usage);
  }
  const problem = passwordProblem(password);
  if (problem !== null) throw new CliError(problem, EXIT.usage);
  return password;
}

async function run<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (err instanceof UserError) throw new CliError(err.message, err.code === 'invalid' ? EXIT.usage : EXIT.failed);
    throw new CliError(errorMessage(err), EXIT.failed);
  }
}

const stateDirOption = (): Option => new Option('--state-dir <dir>', 'the daemon\'s storage.dir, which holds console-users.json; env VIGIL_STATE_DIR')
  .default(STATE_DIR);

const userName = (v: string): string => {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,31}$/.test(v)) throw new InvalidArgumentError('expected 1-32 letters, digits, ".", "_", "@" or "-"');
  return v;
};

/**
 * `vigilctl console`: the web console's accounts (docs/console.md). It edits `console-users.json`
 * in the state directory directly, the daemon running or not: a running daemon reads the file again
 * when it changes, so a removed or demoted user loses access at their next request. Run it as the
 * daemon's user or as root (the file stays owned by the state directory's owner).
 */
export function consoleCommand(out: Output): Command {
  const cmd = new Command('console').description('web console accounts (viewer, operator, admin)');
  cmd.command('adduser')
    .description('add a console account; the password is typed (twice) or read from stdin, there is no default')
    .argument('<name>', 'user name', userName)
    .addOption(roleOption().makeOptionMandatory())
    .option('--password-stdin', 'read the password from the first line of stdin')
    .addOption(stateDirOption())
    .option('--json', 'the account as JSON')
    .action(async (name: string, opts: { role: Role; passwordStdin?: boolean; stateDir: string; json?: boolean }) => {
      const password = await newPassword(opts.passwordStdin);
      const user = await run(() => new UserStore(opts.stateDir).add(name, opts.role, password));
      out.result(opts.json, user, `added console user ${user.name} (${user.role})`);
    });
  cmd.command('passwd')
    .description('set a console account\'s password')
    .argument('<name>', 'user name', userName)
    .option('--password-stdin', 'read the password from the first line of stdin')
    .addOption(stateDirOption())
    .action(async (name: string, opts: { passwordStdin?: boolean; stateDir: string }) => {
      const store = new UserStore(opts.stateDir);
      if (!store.get(name)) throw new CliError(`no console user "${name}"`, EXIT.failed);
      const password = await newPassword(opts.passwordStdin);
      await run(() => store.setPassword(name, password));
      out.raw(`password of ${name} changed; their open console sessions end`);
    });
  cmd.command('role')
    .description('change a console account\'s role')
    .argument('<name>', 'user name', userName)
    .addOption(roleOption().makeOptionMandatory())
    .addOption(stateDirOption())
    .action(async (name: string, opts: { role: Role; stateDir: string }) => {
      const user = await run(() => new UserStore(opts.stateDir).setRole(name, opts.role));
      out.raw(`${user.name} is now ${user.role}`);
    });
  cmd.command('users')
    .description('list console accounts')
    .addOption(stateDirOption())
    .option('--json', 'one JSON array')
    .action(async (opts: { stateDir: string; json?: boolean }) => {
      const users = await run(() => Promise.resolve(new UserStore(opts.stateDir).list()));
      out.result(opts.json, users, users.length === 0 ? 'no console users (vigilctl console adduser NAME --role admin)'
        : users.map((u) => `${u.name.padEnd(20)} ${u.role.padEnd(8)} changed ${u.updated_at}`).join('\n'));
    });
  cmd.command('deluser')
    .description('remove a console account (its sessions end at its next request)')
    .argument('<name>', 'user name', userName)
    .option('--force', 'also when it is the last admin')
    .addOption(stateDirOption())
    .action(async (name: string, opts: { force?: boolean; stateDir: string }) => {
      await run(() => new UserStore(opts.stateDir).remove(name, opts.force === true));
      out.raw(`removed console user ${name}`);
    });
  return cmd;
}
