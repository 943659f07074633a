import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { validateConfig, type PathOverrides } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { errorMessage, VigilError } from '../errors.js';
import { loadDetector } from '../inference/detector.js';
import { silentLogger } from '../log.js';
import type { ProtocolVersion } from '../uplink/client-options.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { USERS_FILE } from '../console/user-store.js';

export interface DemoOptions extends PathOverrides {
  /** A detector manifest; without one the demo shows motion events from the test pattern. */
  model?: string | undefined;
  source?: string | undefined;
}

export interface Demo {
  config: Config;
  protocolVersion: ProtocolVersion;
  stop(): Promise<void>;
}

/** Where the demo's console listens when it has one (docs/console.md). */
const DEMO_CONSOLE_LISTEN = '127.0.0.1:8443';

/** Classes the demo's rule reports: the ones a street camera usually cares about. */
const DEMO_CLASSES = ['person', 'bicycle', 'car', 'motorbike', 'motorcycle', 'bus', 'truck', 'dog', 'cat'];

/**
 * `vigild --demo`: the whole data path with nothing installed beyond the package. A built-in test
 * source (or `--source`), an in-process broker, a state directory in /tmp, and a subscriber that
 * prints what a hub would receive, so the terminal shows frames becoming MQTT messages.
 */
export async function prepareDemo(opts: DemoOptions): Promise<Demo> {
  // What the user asked for by name must work, or the demo says so and stops (exit 2): falling
  // back to motion, or retrying a file that is not there, would show a demo of something else.
  const source = demoSource(opts.source);
  if (opts.model !== undefined) await checkModel(opts.model, opts.modelsDir);
  const broker = new EmbeddedBroker();
  const url = opts.mqttUrl ?? await broker.start();
  // A state folder of our own is removed at exit, however the process ends (the database and
  // socket of a demo are worth nothing afterwards); one given with --state-dir is kept.
  const ownDir = opts.storageDir === undefined;
  const dir = opts.storageDir ?? mkdtempSync(path.join(tmpdir(), 'vigil-demo-'));
  const removeDir = (): void => { if (ownDir) rmSync(dir, { recursive: true, force: true }); };
  if (ownDir) process.once('exit', removeDir);
  const withModel = opts.model !== undefined;
  // The web console only where someone made an account for it (no account is ever made implicitly):
  // `vigilctl console adduser NAME --role admin --state-dir DIR`, then `vigild --demo --state-dir DIR`.
  const withConsole = existsSync(path.join(dir, USERS_FILE));
  const config = validateConfig({
    device: { id: 'demo', site: 'local' },
    storage: { dir },
    mqtt: { url },
    control: { socket: opts.socket ?? path.join(dir, 'vigild.sock') },
    console: { enabled: withConsole, listen: DEMO_CONSOLE_LISTEN },
    ...(opts.modelsDir !== undefined ? { models_dir: path.resolve(opts.modelsDir) } : {}),
    models: withModel ? [{ name: 'demo-model', manifest: path.resolve(opts.model ?? '') }] : [],
    streams: [{
      id: 'demo', uri: source, fps: 5, loop: true,
      ...(withModel ? { model: 'demo-model' } : {}),
    }],
    rules: withModel
      ? [{ id: 'objects', stream: 'demo', kind: 'presence', classes: DEMO_CLASSES, min_score: 0.4, cooldown_s: 5 }]
      : [],
  }, 'demo');

  const hub = mqtt.connect(url, { protocolVersion: broker.protocolVersion, clientId: 'vigil-demo-hub' });
  hub.on('connect', () => { void hub.subscribeAsync('vigil/v1/#', { qos: 1 }); });
  // The device state is retained and republished: print it when it changes, not each time it comes.
  const lastState = new Map<string, string>();
  hub.on('message', (topic, payload) => {
    const line = describe(topic, payload);
    if (topic.endsWith('/state')) {
      if (lastState.get(topic) === line) return;
      lastState.set(topic, line);
    }
    process.stdout.write(`${line}\n`);
  });
  // The demo's own subscriber: its errors are shown, never fatal to the daemon it watches.
  hub.on('error', (err) => process.stderr.write(`[hub] subscriber error: ${err.message}\n`));
  process.stdout.write(`vigil demo: broker ${url}, state ${dir}, source ${config.streams[0]?.uri}` +
    `${withModel ? `, model ${opts.model}` : ' (no model: motion events)'}\n` +
    `vigil demo: try \`npx vigilctl status --socket ${config.control.socket}\` in another terminal\n` +
    (withConsole ? `vigil demo: web console at http://${DEMO_CONSOLE_LISTEN}/\n`
      : `vigil demo: web console off: \`npx vigilctl console adduser admin --role admin --state-dir DIR\`, then start the demo with --state-dir DIR\n`));

  return {
    config,
    protocolVersion: broker.protocolVersion,
    stop: async () => {
      await hub.endAsync(true);
      await broker.stop();
      removeDir();
    },
  };
}

/** `--source` as a stream URI: a plain path becomes file://; a local file must exist. */
function demoSource(source: string | undefined): string {
  if (source === undefined) return 'test://ball?width=640&height=480';
  const uri = /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? source : pathToFileURL(path.resolve(source)).href;
  if (uri.startsWith('file://')) {
    const file = fileURLToPath(uri);
    if (!existsSync(file)) throw new VigilError(`--source: no such file: ${file}`, 2);
  }
  return uri;
}

/** Loads the model once as the daemon will, so a wrong manifest, file or checksum stops the demo with the reason. */
async function checkModel(manifest: string, modelsDir: string | undefined): Promise<void> {
  try {
    const detector = await loadDetector({ name: 'demo-model', manifestPath: path.resolve(manifest), modelsDir: modelsDir && path.resolve(modelsDir),
      providers: ['cpu'], threads: 1 }, silentLogger());
    await detector.close();
  } catch (err) {
    throw new VigilError(`--model ${manifest} cannot be loaded: ${errorMessage(err)}`, 2, { cause: err });
  }
}

function describe(topic: string, payload: Buffer): string {
  try {
    const msg = JSON.parse(payload.toString()) as { schema?: string; stream?: string; rule?: string; severity?: string;
      state?: string; objects?: { label: string; score: number; box: number[] }[] };
    if (msg.schema === 'vigil.state/1') return `[hub] ${topic}: device ${msg.state}`;
    const objects = (msg.objects ?? []).map((o) => `${o.label} ${o.score.toFixed(2)} [${o.box.map((v) => Math.round(v)).join(',')}]`);
    return `[hub] ${topic}: ${msg.severity} ${msg.stream}/${msg.rule}: ${objects.join('; ')}`;
  } catch {
    return `[hub] ${topic}: ${payload.length} bytes (not JSON)`;
  }
}
