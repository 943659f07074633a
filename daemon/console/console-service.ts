import { readFile } from 'node:fs/promises';
import { Auditor, type AuditRecorder } from '../control/audit.js';
import type { ControlTarget } from '../control/handler.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { DaemonParts } from '../parts.js';
import { ConsoleServer } from './console-server.js';
import { LivePictures } from './stream-pictures.js';

export interface ConsoleServiceOptions {
  parts: DaemonParts;
  target: ControlTarget;
  audit: AuditRecorder;
  configFile: string | null;
  rootLog: Logger;
}

/** The console's certificate: its own, else the device's (what provisioning installs for MQTT), else none. */
export async function consoleTls(cfg: Config): Promise<{ cert: Buffer; key: Buffer; from: string } | null> {
  const own = cfg.console.tls;
  if (own) return { cert: await readFile(own.cert), key: await readFile(own.key), from: 'console.tls' };
  if (cfg.mqtt.cert !== undefined && cfg.mqtt.key !== undefined) {
    return { cert: await readFile(cfg.mqtt.cert), key: await readFile(cfg.mqtt.key), from: 'mqtt.cert' };
  }
  return null;
}

/**
 * Starts the console when `console.enabled`, or returns null. Anything that keeps it from starting
 * (the port taken, a certificate unreadable, plain HTTP on a network address) is logged as an error
 * and costs the console only: the video, the store and the other ways in carry on.
 */
export async function startConsole(o: ConsoleServiceOptions): Promise<{ stop(): Promise<void> } | null> {
  const cfg = o.parts.cfg;
  if (!cfg.console.enabled) return null;
  const log = o.rootLog.child({ component: 'console' });
  const auditor = new Auditor(o.audit, cfg.remote.audit_per_minute, log);
  const video = o.parts.video;
  const pictures = video ? new LivePictures(video, () => o.parts.cfg, log) : null;
  try {
    const tls = await consoleTls(cfg);
    const server = new ConsoleServer({
      config: cfg.console, stateDir: cfg.storage.dir, tls, target: o.target, auditor, configFile: o.configFile, log,
      telemetry: () => o.parts.telemetry?.snapshot() ?? null, ...(pictures ? { pictures } : {}),
      ...(video ? { live: video } : {}), knownStream: (id) => o.parts.cfg.streams.some((s) => s.id === id),
    });
    await server.start();
    if (tls) log.info({ certificate: tls.from }, 'console serves TLS');
    return { stop: async () => { await server.stop(); await pictures?.stop(); auditor.stop(); } };
  } catch (err) {
    await pictures?.stop();
    auditor.stop();
    log.error({ listen: cfg.console.listen, err: errorMessage(err) }, 'console unavailable: the device runs on without it');
    return null;
  }
}
