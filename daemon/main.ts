/**
 * vigild's entry point: it alone owns arguments, signals and exit codes. Exit codes: 0 clean stop,
 * 1 runtime failure, 2 invalid configuration or usage, 75 restart asked for (`vigilctl restart`:
 * systemd's Restart=on-failure starts it again), 128+N stopped by a second signal or a stuck shutdown.
 */
import { Command, CommanderError } from 'commander';
import { loadConfigFile, overridesFromEnv, type PathOverrides } from './config/load.js';
import { loadCheckedConfig } from './config/preflight.js';
import type { Config } from './config/schema.js';
import { errorMessage, VigilError } from './errors.js';
import { pino } from 'pino';
import { createLogger, type Logger } from './log.js';
import { loadWithStartHint } from './demo/start-hint.js';
import { LogRing } from './manage/log-ring.js';
import { missingMallocTunables } from './node-flags.cjs';
import { createHealthCheck } from './systemd/health.js';
import { journalPriorities, writesToJournal } from './systemd/journal.js';
import { SdNotifier } from './systemd/notify.js';
import { VERSION } from './version.js';
import { exitWhenNativeIdle } from './video/native-exit.js';

/** systemd's default stop timeout is 90 s; ours must be far shorter so a hung part cannot stall a reboot. */
const STOP_DEADLINE_MS = 4000;

/**
 * Exit code after a `restart` command: EX_TEMPFAIL, a failure to systemd, so that
 * Restart=on-failure starts vigild again (exit 2 alone is kept from restarting).
 */
const RESTART_EXIT_CODE = 75;

interface Options {
  config: string;
  demo?: boolean;
  stateDir?: string;
  modelsDir?: string;
  mqttUrl?: string;
  socket?: string;
  model?: string;
  source?: string;
  checkConfig?: boolean;
  root?: string;
  prepareModels?: boolean;
}

function parseArgs(argv: string[]): Options {
  const program = new Command('vigild')
    .description('Vigil edge video-analytics daemon')
    .version(VERSION)
    .option('-c, --config <file>', 'configuration file', process.env['VIGIL_CONFIG'] ?? '/etc/vigil/vigil.yaml')
    .option('--demo', 'run a self-contained demo: test source, embedded broker, events in the terminal')
    .option('--model <manifest>', 'demo: detector manifest to use (model.json)')
    .option('--source <uri>', 'demo: video source instead of the built-in test pattern')
    .option('--state-dir <dir>', 'state directory (database, caches); env VIGIL_STATE_DIR')
    .option('--models-dir <dir>', 'where manifests find model files; env VIGIL_MODELS_DIR')
    .option('--mqtt-url <url>', 'broker URL, overriding the config; env VIGIL_MQTT_URL')
    .option('--socket <path>', 'control socket for vigilctl; env VIGIL_SOCKET')
    .option('--check-config', 'validate the configuration and exit (0 valid, 2 invalid)')
    .option('--root <dir>', 'with --check-config: look for the files the config names under DIR (a device image, a provisioning root)')
    .option('--prepare-models', 'load every configured model once (TensorRT builds its engine cache), run one inference, print what was done and exit (0 all ready, 1 any failed)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse(argv);
  return program.opts<Options>();
}

function overrides(opts: Options): PathOverrides {
  const env = overridesFromEnv();
  return {
    storageDir: opts.stateDir ?? env.storageDir,
    modelsDir: opts.modelsDir ?? env.modelsDir,
    mqttUrl: opts.mqttUrl ?? env.mqttUrl,
    socket: opts.socket ?? env.socket,
  };
}

async function run(opts: Options): Promise<number> {
  let cfg: Config;
  let cleanupDemo: (() => Promise<void>) | undefined;
  let protocolVersion: 4 | 5 | undefined;
  if (opts.root !== undefined && !opts.checkConfig) throw new VigilError('--root goes with --check-config only: the daemon reads its files where the config names them', 2);
  if (opts.demo) {
    const { prepareDemo } = await import('./demo/demo.js');
    const demo = await prepareDemo({ model: opts.model, source: opts.source, ...overrides(opts) });
    cfg = demo.config;
    cleanupDemo = () => demo.stop();
    protocolVersion = demo.protocolVersion;
    process.env['VIGIL_LOG_LEVEL'] ??= 'warn';
  } else if (opts.prepareModels) {
    // Models only: TLS files and the socket are the running daemon's, and provisioning runs this in
    // a temporary root where the config's device paths do not exist yet.
    cfg = loadWithStartHint(opts.config, () => loadConfigFile(opts.config, overrides(opts)));
  } else {
    // One path for --check-config and the start: the same overrides, the same checks (YAML
    // bounds, schema, references, files, socket, classes), every problem at once, exit 2.
    cfg = await loadWithStartHint(opts.config, () => loadCheckedConfig(opts.config, overrides(opts), { root: opts.root }));
  }
  if (opts.checkConfig) {
    process.stdout.write(`${opts.config}: valid (${cfg.streams.length} streams, ${cfg.rules.length} rules)\n`);
    return 0;
  }
  if (opts.prepareModels) {
    const { runPrepareModels } = await import('./inference/prepare-command.js');
    return runPrepareModels(cfg);
  }
  // The newest lines are also kept in memory for `vigilctl logs tail`, after redaction; stdout is
  // written as pino's default destination writes it (asynchronously, flushed at exit).
  const logRing = new LogRing();
  const stdout = pino.destination({ dest: process.stdout.fd || 1, sync: false });
  // Under systemd each line carries its priority for journald; the ring (vigilctl logs tail) keeps plain JSON.
  const toStdout = writesToJournal(process.stdout.fd || 1) ? journalPriorities(stdout) : stdout;
  const log = createLogger(process.env['VIGIL_LOG_LEVEL'] ?? cfg.log.level, logRing.tee(toStdout), cfg.log.components);
  const missing = missingMallocTunables(process.env);
  if (missing.length > 0) {
    log.warn({ missing }, 'started without the unit\'s GLIBC_TUNABLES: inference runs 10-15 % slower on a CPU (start vigild through its launcher or the unit; docs/throughput.md)');
  }
  // The libuv pool was sized by launcher.cts before this module loaded.
  const { App } = await import('./app.js');
  // The restart command stops the daemon like a signal does, then exits with RESTART_EXIT_CODE.
  let restart = (): void => undefined;
  const app = new App(cfg, log, {
    ...(protocolVersion !== undefined ? { protocolVersion } : {}), onRestart: () => restart(),
    configFile: opts.demo ? null : opts.config, overrides: overrides(opts), logRing,
  });
  // Silent without NOTIFY_SOCKET; under systemd (Type=notify) it reports READY, STATUS, STOPPING
  // and pings the watchdog only while the streams are healthy (daemon/systemd/health.ts).
  const notifier = new SdNotifier({ log: log.child({ component: 'systemd' }) });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals | 'restart'): void => {
      const code = signal === 'restart' ? RESTART_EXIT_CODE : 128 + (signal === 'SIGINT' ? 2 : 15);
      if (stopping && signal === 'restart') return;
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(code);
        return;
      }
      stopping = true;
      log.info({ signal }, 'stopping');
      notifier.notifyStopping();
      const forced = setTimeout(() => {
        log.error({ deadline_ms: STOP_DEADLINE_MS }, 'shutdown deadline passed: exiting anyway');
        resolve(code);
      }, STOP_DEADLINE_MS + 500);
      forced.unref();
      void app.stop().then(async () => {
        await cleanupDemo?.();
        clearTimeout(forced);
        log.info('stopped');
        resolve(signal === 'restart' ? RESTART_EXIT_CODE : 0);
      });
    };
    restart = () => shutdown('restart');
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
    // SIGHUP (`systemctl reload vigild`, ExecReload in the unit) reloads vigil.yaml: streams and
    // rules change live, the rest is saved and named as needing a restart. A file that fails the
    // start's checks changes nothing; the daemon keeps running either way.
    process.on('SIGHUP', () => {
      if (stopping) return;
      if (opts.demo) {
        log.warn({ signal: 'SIGHUP' }, 'SIGHUP: the demo runs without a config file; nothing to reload');
        return;
      }
      notifier.reloading();
      app.reload().then((r) => {
        log.info({ signal: 'SIGHUP', config: opts.config, changed: r.changed, applied: r.applied, restart_required: r.restart_required },
          r.changed.length === 0 ? 'SIGHUP: config reloaded, nothing changed' : r.restart_required.length > 0
            ? 'SIGHUP: config reloaded; the settings in restart_required take effect at the next restart (systemctl restart vigild)'
            : 'SIGHUP: config reloaded and applied');
      }, (err: unknown) => {
        log.error({ signal: 'SIGHUP', config: opts.config, err: errorMessage(err) }, 'SIGHUP: config not reloaded, the running config stays as it was');
      }).finally(() => notifier.ready(createHealthCheck(() => app.status(), { streams: app.runningConfig().streams })().status));
    });
    app.start(new AbortController().signal).then(
      () => {
        log.info({ version: VERSION, streams: cfg.streams.length }, 'vigild running');
        const health = createHealthCheck(() => app.status(), { streams: cfg.streams });
        notifier.ready(health().status);
        notifier.startWatchdog(health);
      },
      (err: unknown) => {
        log.fatal({ err: errorMessage(err) }, 'start failed');
        void app.stop().finally(() => resolve(err instanceof VigilError ? err.exitCode : 1));
      },
    );
  });
}

function fail(log: Logger | null, err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  const msg = errorMessage(err);
  if (log) log.fatal({ err: msg }, 'vigild cannot start');
  process.stderr.write(`vigild: ${msg}\n`);
  return err instanceof VigilError ? err.exitCode : 1;
}

async function main(): Promise<void> {
  let code: number;
  try {
    code = await run(parseArgs(process.argv));
  } catch (err) {
    code = fail(null, err);
  }
  // Never plain process.exit(): a pool thread blocked in GStreamer would hang it (native-exit.ts).
  await exitWhenNativeIdle(code);
}

void main();
