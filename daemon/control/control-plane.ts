import path from 'node:path';
import type { PathOverrides } from '../config/load.js';
import { stopOne } from '../services.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { LiveManager, type ChangeResult, type LiveTarget } from '../manage/live-manager.js';
import type { LogRing } from '../manage/log-ring.js';
import type { ModelManager } from '../models/model-manager.js';
import { PackageError } from '../models/package-error.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { DaemonParts } from '../parts.js';
import type { AppStatus } from '../status/app-status.js';
import { EventReviews } from '../tiers/event-reviews.js';
import type { TestAlerts } from '../uplink/test-alert.js';
import type { ProtocolVersion } from '../uplink/client-options.js';
import { startConsole } from '../console/console-service.js';
import { takeSnapshot } from '../evidence/snapshot-control.js';
import { CalibrationJobs } from '../models/quantize/calibration-jobs.js';
import { Auditor, type AuditRecorder } from './audit.js';
import { Authoriser } from './authoriser.js';
import type { ControlTarget } from './handler.js';
import type { TypedControlTarget } from './results.js';
import { MqttCommands } from './mqtt-commands.js';
import { NonceCache } from './nonce-cache.js';
import { ControlSocket } from './socket-server.js';

export interface ControlPlaneOptions {
  parts: DaemonParts;
  models: ModelRegistry;
  /** The daemon's live-management side (streams and rules changed while running). */
  live: LiveTarget;
  status: () => AppStatus;
  /** Where audit records are stored (events/event-recorder.ts). */
  audit: AuditRecorder;
  /** The file live changes are persisted to (null: in memory only), and the path overrides it was loaded with. */
  configFile: string | null;
  overrides: PathOverrides;
  logRing: LogRing | undefined;
  /** Stops the daemon for its supervisor to start again (`restart` command); without it the command is refused. */
  onRestart: (() => void) | undefined;
  protocolVersion: ProtocolVersion | undefined;
  rootLog: Logger;
  log: Logger;
}

/**
 * The ways in for commands: the local control socket (vigilctl) and, with `remote.enabled`, the
 * hub's signed commands over MQTT; both answer through the same ControlTarget and authoriser.
 * Last to start: vigilctl should only reach a daemon that is running. A second daemon on the same
 * socket (and so, likely, the same database) refuses to start; any other socket problem (e.g. no
 * /run/vigil) costs local management only, never the video.
 */
export class ControlPlane {
  private control: ControlSocket | null = null;
  private remote: MqttCommands | null = null;
  private console: { stop(): Promise<void> } | null = null;
  private restartRequested = false;
  /** INT8 calibration frames from the streams: held until dropped, let go at stop. */
  private readonly calibration: CalibrationJobs;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.calibration = new CalibrationJobs({
      tap: () => opts.parts.video, streams: () => opts.parts.cfg.streams, log: opts.rootLog.child({ component: 'calibration' }),
    });
  }

  async start(): Promise<void> {
    const { parts, rootLog } = this.opts;
    // Live management serves both transports; it only needs the config file, not the socket.
    const live = new LiveManager({
      target: this.opts.live, file: this.opts.configFile, overrides: this.opts.overrides, log: rootLog, logRing: this.opts.logRing,
    });
    await live.start();
    this.live = live;
    const target = {
      status: () => this.opts.status(),
      listEvents: ({ stream, limit }) => {
        if (!parts.store) throw new Error('event store is closed');
        return parts.store.listEvents({ limit, ...(stream !== undefined ? { stream } : {}) });
      },
      live,
      ...new EventReviews(() => parts.store).target(),
      models: this.modelControl(),
      sendTestAlert: () => this.requireTestAlerts().send(),
      testAlertStatus: (eventId) => this.requireTestAlerts().status(eventId),
      ...(parts.learning ? { flStatus: () => parts.learning?.status() } : {}),
      snapshot: (req) => takeSnapshot({ video: parts.video, evidence: parts.tiers?.evidence, streams: parts.cfg.streams, rules: parts.cfg.rules }, req),
      calibration: this.calibration,
      ...(this.opts.onRestart ? { restart: () => this.requestRestart() } : {}),
    } satisfies ControlTarget & TypedControlTarget;
    const authoriser = this.buildAuthoriser();
    await this.startRemote(target, authoriser);
    // The web console: a third way in, through the same target; it logs its own failure to start.
    this.console = await startConsole({ parts, target, audit: this.opts.audit, configFile: this.opts.configFile, rootLog });
    const cfg = parts.cfg;
    if (!cfg.control.enabled) return;
    const control = new ControlSocket(cfg.control.socket, target, rootLog.child({ component: 'control' }), authoriser.socketGate);
    try {
      await control.start();
      this.control = control;
    } catch (err) {
      if (errorMessage(err).startsWith('another process answers')) throw err;
      this.opts.log.error({ socket: cfg.control.socket, err: errorMessage(err) }, 'control socket unavailable: vigilctl cannot reach this daemon');
    }
  }

  /** Remote commands first, then the socket; each failure is logged and the other still stops. */
  async stop(): Promise<void> {
    const consoleServer = this.console;
    this.console = null;
    if (consoleServer) await stopOne('console', () => consoleServer.stop(), this.opts.log, false);
    const remote = this.remote;
    this.remote = null;
    if (remote) await stopOne('remote commands', () => remote.stop(), this.opts.log, false);
    const control = this.control;
    this.control = null;
    if (control) await stopOne('control socket', () => control.stop(), this.opts.log, false);
    this.calibration.stop();
    // Its pending count report would otherwise fire after the store has closed.
    this.auditor?.stop();
    this.auditor = null;
  }

  private auditor: Auditor | null = null;
  private live: LiveManager | null = null;

  /** SIGHUP: the config file applied where it can be live (LiveManager.reload). */
  reload(): Promise<ChangeResult> {
    if (!this.live) return Promise.reject(new Error('vigild has not finished starting; send SIGHUP again once it runs'));
    return this.live.reload();
  }

  /** Who may run which command, remembering nonces in the state directory and auditing through the store. */
  private buildAuthoriser(): Authoriser {
    const cfg = this.opts.parts.cfg;
    const log = this.opts.rootLog.child({ component: 'control' });
    const auditor = new Auditor(this.opts.audit, cfg.remote.audit_per_minute, log);
    this.auditor = auditor;
    const nonces = new NonceCache({ file: path.join(cfg.storage.dir, 'remote-nonces.json'), log });
    return new Authoriser({ device: cfg.device, config: cfg.remote, nonces, auditor, log });
  }

  /** Commands through the hub: needs MQTT 5 (response topic, correlation data), so not with the demo's broker. */
  private async startRemote(target: ControlTarget, authoriser: Authoriser): Promise<void> {
    const { cfg, uplink } = this.opts.parts;
    if (!cfg.remote.enabled || !uplink || (this.opts.protocolVersion ?? 5) !== 5) return;
    const remote = new MqttCommands({
      link: uplink, device: cfg.device, target, gate: authoriser.remoteGate,
      maxRequestBytes: cfg.remote.max_request_bytes, log: this.opts.rootLog.child({ component: 'remote' }),
    });
    await remote.start();
    this.remote = remote;
  }

  /** Replies first; the stop starts once the reply had time to leave (socket or MQTT). */
  private requestRestart(): { restarting: true } {
    if (!this.restartRequested) {
      this.restartRequested = true;
      this.opts.log.warn('restart requested through the control channel');
      setTimeout(() => this.opts.onRestart?.(), 300);
    }
    return { restarting: true };
  }

  private requireTestAlerts(): TestAlerts {
    if (!this.opts.parts.testAlerts) throw new Error('the uplink is not running');
    return this.opts.parts.testAlerts;
  }

  /** The control plane's view of the model manager; refusal codes lead the error message. */
  private modelControl(): NonNullable<TypedControlTarget['models']> {
    const withCode = async <T>(p: (m: ModelManager) => Promise<T>): Promise<T> => {
      const m = this.opts.models.models;
      if (!m) throw new Error('model manager not started');
      try {
        return await p(m);
      } catch (err) {
        throw new Error(err instanceof PackageError ? `${err.code}: ${err.message}` : errorMessage(err), { cause: err });
      }
    };
    return {
      list: () => withCode((m) => m.list()),
      install: (req) => withCode((m) => m.install(req)),
      upload: (id, offset, data) => withCode((m) => m.upload(id, offset, data)),
      activate: (name, version, atRestart) => withCode((m) => m.activate(name, version, atRestart)),
      rollback: (name) => withCode((m) => m.rollback(name)),
    };
  }
}
