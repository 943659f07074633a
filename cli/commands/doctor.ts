import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { connect, type IClientOptions } from 'mqtt';
import { loadConfigFile, overridesFromEnv } from '../../daemon/config/load.js';
import type { Config, Provider } from '../../daemon/config/schema.js';
import { ConfigError, errorMessage } from '../../daemon/errors.js';
import { sha256File } from '../../daemon/inference/checksum.js';
import { loadManifest } from '../../daemon/inference/manifest.js';
import { readTlsMaterial } from '../../daemon/uplink/client-options.js';
import { call } from '../control-client.js';
import { configUnderRoot } from './doctor-root.js';
import { pipelineElements } from '../../daemon/video/pipeline-elements.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';

export type Outcome = 'OK' | 'WARN' | 'FAIL';

export interface CheckResult {
  name: string;
  outcome: Outcome;
  detail: string;
  /** What to do about it; only on WARN and FAIL. */
  hint?: string;
}

const ok = (name: string, detail: string): CheckResult => ({ name, outcome: 'OK', detail });
const warn = (name: string, detail: string, hint: string): CheckResult => ({ name, outcome: 'WARN', detail, hint });
const fail = (name: string, detail: string, hint: string): CheckResult => ({ name, outcome: 'FAIL', detail, hint });

const GST_INSPECT = process.env['VIGIL_GST_INSPECT'] ?? 'gst-inspect-1.0';

/** Elements the stream pipelines are built from off a Jetson, read off the pipeline builder itself. */
const SOFTWARE_ELEMENTS = pipelineElements('software');
/** What a Jetson's pipelines use beyond those. */
const NVDEC_ELEMENTS = pipelineElements('jetson').filter((e) => !SOFTWARE_ELEMENTS.includes(e));
/** The Debian package that ships an element, for the hint; the core elements come with GStreamer itself. */
const PACKAGE_OF: Record<string, string> = {
  filesrc: 'libgstreamer1.0-0', fakesink: 'libgstreamer1.0-0', queue: 'libgstreamer1.0-0', tee: 'libgstreamer1.0-0', capsfilter: 'libgstreamer1.0-0',
  rtspsrc: 'gstreamer1.0-plugins-good', rtph264depay: 'gstreamer1.0-plugins-good', rtph265depay: 'gstreamer1.0-plugins-good',
  h264parse: 'gstreamer1.0-plugins-bad', h265parse: 'gstreamer1.0-plugins-bad',
  avdec_h264: 'gstreamer1.0-libav', avdec_h265: 'gstreamer1.0-libav',
};
const packageOf = (element: string): string => PACKAGE_OF[element] ?? 'gstreamer1.0-plugins-base';

/** Below this much free space SQLite commits and TensorRT engine builds start to fail outright. */
const DISK_FAIL_BYTES = 100 * 1024 ** 2;
const DISK_WARN_BYTES = 1024 ** 3;
const DISK_WARN_FRACTION = 0.1;
const CERT_WARN_DAYS = 30;
const DAY_MS = 86_400_000;
/**
 * A Jetson without an RTC battery boots with its clock in the past until NTP answers; a clock
 * earlier than this software cannot be right, and it makes every certificate look not yet valid.
 */
const EARLIEST_PLAUSIBLE_CLOCK = Date.UTC(2025, 0, 1);

function isJetson(): boolean {
  if (existsSync('/etc/nv_tegra_release')) return true;
  try {
    return readFileSync('/proc/device-tree/model', 'utf8').includes('NVIDIA Jetson');
  } catch {
    return false; // no device tree: a PC or a VM
  }
}

function run(cmd: string, args: string[], signal: AbortSignal): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { signal, encoding: 'utf8' }, (err, stdout) => {
      if (err === null) resolve({ code: 0, stdout });
      // A non-zero exit is an answer (`--exists` says "no" that way); failing to start is not.
      else if (typeof err.code === 'number') resolve({ code: err.code, stdout });
      else reject(Object.assign(new Error(err.message, { cause: err }), { code: err.code }));
    });
  });
}

async function gstreamerChecks(signal: AbortSignal): Promise<CheckResult[]> {
  let version: string;
  try {
    version = (await run(GST_INSPECT, ['--version'], signal)).stdout.split('\n')[1]?.trim() ?? 'present';
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${GST_INSPECT} not found` : errorMessage(err);
    return [fail('gstreamer', reason, 'apt install gstreamer1.0-tools gstreamer1.0-plugins-base (scripts/setup.sh lists every package)')];
  }
  const names = [...SOFTWARE_ELEMENTS, ...NVDEC_ELEMENTS];
  const present = new Map(await Promise.all(names.map(async (n) =>
    [n, (await run(GST_INSPECT, ['--exists', n], signal)).code === 0] as const)));
  const missing = (list: readonly string[]): string[] => list.filter((n) => present.get(n) !== true);
  const jetson = isJetson();
  const nvdecMissing = missing(NVDEC_ELEMENTS);
  const results = [ok('gstreamer', version)];

  const softMissing = missing(SOFTWARE_ELEMENTS);
  const packages = [...new Set(softMissing.map(packageOf))].join(' ');
  // With NVDEC, the software decoders are only the fallback: their absence weakens, not breaks.
  const onlyFallback = nvdecMissing.length === 0 && softMissing.every((n) => n.startsWith('avdec_'));
  if (softMissing.length === 0) results.push(ok('gst-plugins', `${SOFTWARE_ELEMENTS.length} elements present`));
  else if (onlyFallback) results.push(warn('gst-plugins', `missing ${softMissing.join(', ')} (software decoding fallback)`, `apt install ${packages}`));
  else results.push(fail('gst-plugins', `missing ${softMissing.join(', ')}`, `apt install ${packages}`));

  if (nvdecMissing.length === 0) results.push(ok('nvdec', 'nvv4l2decoder and nvvidconv present (hardware decode)'));
  else if (jetson) {
    results.push(fail('nvdec', `Jetson without ${nvdecMissing.join(', ')}: decoding falls back to the CPU`,
      'apt install nvidia-l4t-gstreamer, then remove the GStreamer registry cache (~/.cache/gstreamer-1.0, /var/cache/vigil/gstreamer-1.0)'));
  } else {
    results.push(warn('nvdec', `${nvdecMissing.join(', ')} absent (not a Jetson): software decoding`,
      'expected off a Jetson; on a Jetson install nvidia-l4t-gstreamer'));
  }
  return results;
}

async function providerCheck(cfg: Config | null): Promise<CheckResult> {
  const name = 'onnxruntime';
  const configured = [...new Set<Provider>([...(cfg?.inference.providers ?? ['tensorrt', 'cuda', 'cpu']),
    ...(cfg?.models.flatMap((m) => m.providers ?? []) ?? [])])];
  // Loaded here rather than at the top: the native binding is what this check diagnoses, and a
  // broken one must fail this check, not every vigilctl command.
  let listed: Set<string>;
  let missingLibrary: (p: Provider) => string | null;
  try {
    const ort = await import('onnxruntime-node');
    listed = new Set(ort.listSupportedBackends().map((b) => b.name));
    ({ missingProviderLibrary: missingLibrary } = await import('../../daemon/inference/session.js'));
  } catch (err) {
    return fail(name, `onnxruntime-node does not load: ${errorMessage(err)}`, 'reinstall /opt/vigil (npm ci) or the onnxruntime build from jetson.Dockerfile');
  }
  const unusable = new Map<Provider, string>();
  for (const p of configured) {
    const lib = missingLibrary(p);
    if (!listed.has(p)) unusable.set(p, 'not in this onnxruntime build');
    else if (lib !== null) unusable.set(p, `library missing: ${lib}`);
  }
  const usable = configured.filter((p) => !unusable.has(p));
  const why = [...unusable].map(([p, r]) => `${p} ${r}`).join('; ');
  if (usable.length === 0) {
    return fail(name, `no configured provider is usable (${why})`, 'add cpu to inference.providers, or install an onnxruntime build with the configured providers');
  }
  if (unusable.size > 0) {
    return warn(name, `will use ${usable[0] ?? ''}; ${why}`,
      isJetson() ? 'install the onnxruntime build with TensorRT and CUDA (jetson.Dockerfile)' : 'expected off a GPU host; list only cpu in inference.providers to silence this');
  }
  return ok(name, `providers ${usable.join(', ')}`);
}

async function modelChecks(cfg: Config): Promise<CheckResult[]> {
  if (cfg.models.length === 0) {
    return [warn('models', 'none configured: streams run motion detection only', 'add models: to the config if this device should detect objects')];
  }
  return Promise.all(cfg.models.map(async (m): Promise<CheckResult> => {
    const name = `model:${m.name}`;
    let resolved;
    try {
      resolved = await loadManifest(m.manifest, cfg.models_dir);
    } catch (err) {
      return fail(name, errorMessage(err), 'fix or reinstall the manifest and its labels');
    }
    let actual: string;
    try {
      actual = await sha256File(resolved.modelPath);
    } catch (err) {
      return fail(name, `cannot read ${resolved.modelPath}: ${errorMessage(err)}`, `install the model file at ${resolved.modelPath}`);
    }
    if (actual !== resolved.manifest.sha256) {
      return fail(name, `sha256 mismatch for ${resolved.modelPath}: expected ${resolved.manifest.sha256}, got ${actual}`,
        'the file is corrupt or a different model: download it again, or correct the manifest');
    }
    return ok(name, `${resolved.modelPath} sha256 ok`);
  }));
}

async function diskCheck(dir: string): Promise<CheckResult> {
  const name = 'disk';
  // Before the first start the state directory does not exist yet (systemd creates it); the
  // filesystem it will live on is what matters.
  let probe = dir;
  while (!existsSync(probe) && path.dirname(probe) !== probe) probe = path.dirname(probe);
  const s = await statfs(probe);
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  const fraction = total > 0 ? free / total : 0;
  const detail = `${(free / 1024 ** 3).toFixed(1)} GiB free of ${(total / 1024 ** 3).toFixed(1)} GiB (${(fraction * 100).toFixed(0)}%) at ${probe}`;
  const hint = 'free space on that filesystem or lower storage.max_db_mb; events are evicted once the budget is reached';
  if (free < DISK_FAIL_BYTES) return fail(name, detail, hint);
  if (free < DISK_WARN_BYTES || fraction < DISK_WARN_FRACTION) return warn(name, detail, hint);
  return ok(name, detail);
}

async function clockCheck(signal: AbortSignal, now: number): Promise<CheckResult> {
  const name = 'clock';
  if (now < EARLIEST_PLAUSIBLE_CLOCK) {
    return fail(name, `clock reads ${new Date(now).toISOString()}`, 'set the time (NTP reachable? RTC battery?): TLS and event timestamps depend on it');
  }
  let answer: { code: number; stdout: string } | null = null;
  try {
    answer = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], signal);
  } catch {
    answer = null; // no timedatectl at all: same as no answer
  }
  const value = answer?.code === 0 ? answer.stdout.trim() : '';
  if (value === 'yes') return ok(name, 'NTP synchronised');
  if (value === 'no') return warn(name, 'not NTP synchronised', 'systemctl enable --now systemd-timesyncd and check that an NTP server is reachable');
  return warn(name, 'unknown (timedatectl gave no answer)', 'check the time by hand; on the device timedatectl should report NTPSynchronized=yes');
}

function brokerCheck(cfg: Config, timeoutMs: number): Promise<CheckResult> {
  const name = 'broker';
  const url = cfg.mqtt.url;
  let tls;
  try {
    tls = readTlsMaterial(cfg.mqtt);
  } catch (err) {
    return Promise.resolve(fail(name, errorMessage(err), 'install the certificate files named in mqtt.ca/cert/key'));
  }
  const options: IClientOptions = {
    // Never the daemon's client id: the broker would disconnect the running daemon to let us in.
    clientId: `vigil-doctor-${cfg.device.site}-${cfg.device.id}-${process.pid}`,
    clean: true,
    protocolVersion: 5,
    // Our own timer below decides, with a clearer message than mqtt.js's "connack timeout".
    connectTimeout: timeoutMs * 2,
    reconnectPeriod: 0,
    ...tls,
    ...(cfg.mqtt.username !== undefined ? { username: cfg.mqtt.username } : {}),
    ...(cfg.mqtt.password !== undefined ? { password: cfg.mqtt.password } : {}),
  };
  const started = Date.now();
  return new Promise((resolve) => {
    const client = connect(url, options);
    let settled = false;
    const finish = (r: CheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      resolve(r);
    };
    const timer = setTimeout(() => finish(fail(name, `no CONNACK from ${url} within ${timeoutMs} ms`,
      'check mqtt.url, the network route and firewall to the hub')), timeoutMs);
    client.once('connect', () => finish(ok(name, `connected to ${url} in ${Date.now() - started} ms`)));
    client.once('error', (err) => finish(fail(name, `${url}: ${errorMessage(err)}`,
      /cert|tls|ssl|self.signed/i.test(errorMessage(err)) ? 'check mqtt.ca/cert/key against the hub\'s CA'
        : /auth/i.test(errorMessage(err)) ? 'check the device certificate or username/password with the hub operator'
          : 'check mqtt.url, the network route and firewall to the hub')));
    client.once('close', () => finish(fail(name, `${url}: connection closed before CONNACK`, 'check mqtt.url and the broker\'s TLS and authentication settings')));
  });
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** How close a certificate is to its end; pure, so that the expired case is testable without waiting. */
export function expiryOutcome(validTo: Date, validFrom: Date, now: number): { outcome: Outcome; detail: string } {
  const days = Math.floor((validTo.getTime() - now) / DAY_MS);
  if (validFrom.getTime() > now) return { outcome: 'FAIL', detail: `not valid before ${validFrom.toISOString()}` };
  if (validTo.getTime() <= now) return { outcome: 'FAIL', detail: `expired ${validTo.toISOString()}` };
  return { outcome: days < CERT_WARN_DAYS ? 'WARN' : 'OK', detail: `expires ${validTo.toISOString()} (${days} days)` };
}

function certificateChecks(cfg: Config, now: number): CheckResult[] {
  const files = (['ca', 'cert'] as const).filter((k) => cfg.mqtt[k] !== undefined);
  if (files.length === 0) return [ok('certificates', 'none configured')];
  return files.map((k) => {
    const name = `certificate:${k}`;
    const file = cfg.mqtt[k] as string;
    const hint = k === 'ca' ? 'ask the hub operator for the current CA bundle' : 'issue a new device certificate and re-run provisioning';
    let certs: X509Certificate[];
    try {
      certs = (readFileSync(file, 'utf8').match(PEM_BLOCK) ?? []).map((pem) => new X509Certificate(pem));
    } catch (err) {
      return fail(name, `${file}: ${errorMessage(err)}`, hint);
    }
    if (certs.length === 0) return fail(name, `${file}: no PEM certificate in it`, hint);
    // A bundle is as good as its first certificate to expire.
    const worst = certs.map((c) => ({ c, r: expiryOutcome(new Date(c.validTo), new Date(c.validFrom), now) }))
      .sort((a, b) => new Date(a.c.validTo).getTime() - new Date(b.c.validTo).getTime())[0];
    if (worst === undefined) return fail(name, `${file}: no certificate`, hint);
    let detail = `${file}: ${worst.r.detail}`;
    if (k === 'cert' && cfg.mqtt.key !== undefined) {
      try {
        if (certs[0]?.checkPrivateKey(createPrivateKey(readFileSync(cfg.mqtt.key))) !== true) {
          return fail(name, `${file} does not match the key ${cfg.mqtt.key}`, 'install the key and certificate issued together');
        }
        detail += ', matches its key';
      } catch (err) {
        return fail(name, `key ${cfg.mqtt.key}: ${errorMessage(err)}`, 'install the device key (PEM, readable by root and group vigil)');
      }
    }
    return worst.r.outcome === 'OK' ? ok(name, detail)
      : { name, outcome: worst.r.outcome, detail, hint };
  });
}

/** Connects without speaking first: a daemon that is down is a warning, one that accepts and never answers is a fault. */
function socketAccepts(file: string): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => { probe.destroy(); resolve(null); });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

export async function daemonCheck(socket: string, timeoutMs: number): Promise<CheckResult> {
  const name = 'daemon';
  const refused = await socketAccepts(socket);
  if (refused === 'EACCES') return warn(name, `not allowed to use ${socket}`, 'run as root or join the vigil group');
  if (refused !== null) return warn(name, `not running (${refused} on ${socket})`, 'systemctl start vigild; journalctl -u vigild says why it stopped');
  try {
    const body = await call(socket, { method: 'status' }, timeoutMs) as {
      streams?: { state?: string }[]; uplink?: { connected?: boolean } | null; models?: { name: string; error: string | null }[];
      storage?: { health?: { state?: string; reason?: string | null; held?: number } } | null;
    };
    // Degraded mode (docs/storage-faults.md): alerts are not durably stored; a FAIL, with the reason.
    const storage = body.storage?.health;
    if (storage?.state === 'degraded') {
      return fail(name, `running, but storage degraded: ${storage.reason ?? 'the database takes no writes'}; ${storage.held ?? 0} events held in memory`,
        'alerts still go to the hub directly; check the disk (dmesg, df, mount) and free or remount it: held events are written once it takes writes');
    }
    const streams = body.streams ?? [];
    const playing = streams.filter((s) => s.state === 'playing').length;
    const broken = (body.models ?? []).filter((m) => m.error !== null).map((m) => m.name);
    const detail = `running: ${playing}/${streams.length} streams playing, uplink ${body.uplink?.connected === true ? 'connected' : 'not connected'}` +
      (broken.length > 0 ? `, unusable models: ${broken.join(', ')}` : '');
    return broken.length > 0 || playing < streams.length
      ? warn(name, detail, 'vigilctl status shows each stream\'s and model\'s last error')
      : ok(name, detail);
  } catch (err) {
    return fail(name, `${socket} accepts but: ${errorMessage(err)}`, 'the daemon is hung: systemctl restart vigild, and report its journal');
  }
}

/** Runs a check under a deadline; a check that overruns is a FAIL, and its child processes are killed. */
async function bounded(name: string, ms: number, fn: (signal: AbortSignal) => Promise<CheckResult | CheckResult[]>): Promise<CheckResult[]> {
  const ac = new AbortController();
  // The GStreamer check starts a dozen gst-inspect processes on one signal, each listening to it.
  setMaxListeners(32, ac.signal);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CheckResult[]>((resolve) => {
    timer = setTimeout(() => {
      ac.abort();
      resolve([fail(name, `no answer within ${ms} ms`, 'run the check by hand to see where it hangs')]);
    }, ms);
  });
  try {
    return await Promise.race([fn(ac.signal).then((r) => (Array.isArray(r) ? r : [r]), (err: unknown) =>
      [fail(name, errorMessage(err), 'unexpected error: report it with this output')]), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface DoctorOptions {
  config: string;
  /** Read the config's certificate, state and models paths under this directory (a prepared root). */
  root?: string;
  /** Per network check (broker, daemon), ms. */
  timeoutMs: number;
  now?: number;
}

/** Every check, in the order printed; they run concurrently so the whole takes as long as the slowest. */
export async function runChecks(opts: DoctorOptions): Promise<CheckResult[]> {
  const now = opts.now ?? Date.now();
  let cfg: Config | null = null;
  let configResult: CheckResult;
  try {
    cfg = loadConfigFile(opts.config, overridesFromEnv());
    if (opts.root !== undefined) cfg = configUnderRoot(cfg, opts.root);
    configResult = ok('config', `${opts.config}: ${cfg.streams.length} streams, ${cfg.models.length} models, ${cfg.rules.length} rules`);
  } catch (err) {
    const detail = err instanceof ConfigError ? `${opts.config}: ${err.problems.join('; ')}` : errorMessage(err);
    configResult = fail('config', detail, `vigilctl config validate ${opts.config}; models, disk, broker, certificates and daemon are checked once it is valid`);
  }
  const c = cfg;
  const groups = await Promise.all([
    bounded('gstreamer', 20_000, (s) => gstreamerChecks(s)),
    bounded('onnxruntime', 20_000, () => providerCheck(c)),
    Promise.resolve([configResult]),
    ...(c === null ? [] : [
      // Hashing reads every model file: hundreds of MB from eMMC take seconds.
      bounded('models', 40_000, () => modelChecks(c)),
      bounded('disk', 5_000, () => diskCheck(c.storage.dir)),
      bounded('clock', 5_000, (s) => clockCheck(s, now)),
      bounded('broker', opts.timeoutMs + 1_000, () => brokerCheck(c, opts.timeoutMs)),
      bounded('certificates', 5_000, () => Promise.resolve(certificateChecks(c, now))),
      c.control.enabled
        ? bounded('daemon', opts.timeoutMs + 1_000, () => daemonCheck(c.control.socket, opts.timeoutMs))
        : Promise.resolve([warn('daemon', 'not checked: control.enabled is false', 'enable control: so vigilctl can reach the daemon')]),
    ]),
  ]);
  return groups.flat();
}

function human(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines = results.flatMap((r) => [
    `${r.outcome.padEnd(4)}  ${r.name.padEnd(width)}  ${r.detail}`,
    ...(r.hint !== undefined ? [`${' '.repeat(6 + width + 2)}fix: ${r.hint}`] : []),
  ]);
  const count = (o: Outcome): number => results.filter((r) => r.outcome === o).length;
  lines.push('', `${count('FAIL') > 0 ? 'UNHEALTHY' : 'healthy'}: ${count('OK')} OK, ${count('WARN')} WARN, ${count('FAIL')} FAIL`);
  return lines.join('\n');
}

const positiveSeconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 30) throw new InvalidArgumentError('expected seconds between 0 and 30');
  return n;
};

/** `vigilctl doctor`: is this device able to do its job? Exit 0 healthy (WARNs allowed), 1 on any FAIL. */
export function doctorCommand(out: Output): Command {
  return new Command('doctor')
    .description('check GStreamer, onnxruntime, config, models, disk, clock, broker, certificates and the daemon')
    .option('--config <file>', 'configuration file; env VIGIL_CONFIG', process.env['VIGIL_CONFIG'] ?? '/etc/vigil/vigil.yaml')
    .option('--root <dir>', 'read the config\'s certificate, state and models paths under DIR (a root filesystem, `provision.sh --root`)')
    .option('--timeout <seconds>', 'for the broker and daemon checks', positiveSeconds, 5)
    .option('--json', '{ healthy, checks: [{ name, outcome, detail, hint? }] }')
    .action(async (opts: { config: string; root?: string; timeout: number; json?: boolean }) => {
      const results = await runChecks({ config: opts.config, timeoutMs: Math.round(opts.timeout * 1000), ...(opts.root !== undefined ? { root: opts.root } : {}) });
      const failed = results.filter((r) => r.outcome === 'FAIL');
      out.result(opts.json, { healthy: failed.length === 0, checks: results }, human(results));
      if (failed.length > 0) {
        throw new CliError(`unhealthy: ${failed.map((r) => r.name).join(', ')}`, EXIT.failed);
      }
    });
}
