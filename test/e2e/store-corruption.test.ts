import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { storageMessageSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';

const DAEMON = path.join(repoRoot, 'dist', 'daemon', 'main.js');

test('vigild finds a scribbled database at start, quarantines it, reports it to the hub, and keeps working', async (t) => {
  const broker = await startMosquitto(t);
  const hub = await subscribe(t, broker.url, 'vigil/v1/lab/cam-9/+');
  const dir = await tempDir(t);
  const state = path.join(dir, 'state');
  const config = path.join(dir, 'vigil.yaml');
  await writeFile(config, stringify({
    device: { id: 'cam-9', site: 'lab' }, storage: { dir: state, max_db_mb: 16 }, mqtt: { url: broker.url },
    streams: [{ id: 'pattern', uri: 'test://ball?width=160&height=120&fps=15', fps: 15 }],
  }));

  // A first run creates a healthy database; then garbage over it, as a failing card would leave.
  const run = (): { lines: () => string[]; stop: () => Promise<number | null> } => {
    const child = spawn(process.execPath, [DAEMON, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VIGIL_LOG_LEVEL: 'info' } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.after(() => { child.kill('SIGKILL'); });
    return {
      lines: () => out.split('\n'),
      stop: async () => {
        child.kill('SIGTERM');
        return exited;
      },
    };
  };
  const first = run();
  await waitFor('the first run to connect', () => first.lines().some((l) => l.includes('vigild running')) || undefined, 30_000);
  assert.equal(await first.stop(), 0);
  await writeFile(path.join(state, 'vigil.db'), Buffer.alloc(64 * 1024, 0x5a));

  const second = run();
  const report = await waitFor('the quarantine report at the hub', () => {
    const m = hub.messages.find((x) => x.topic.endsWith('/storage'));
    return m ? storageMessageSchema.parse(m.json) : undefined;
  }, 30_000);
  assert.equal(report.kind, 'quarantined');
  assert.equal(report.severity, 'critical');
  assert.equal(hub.messages.find((x) => x.topic.endsWith('/storage'))?.userProperties['event_id'], report.id);
  const moved = readdirSync(state).filter((f) => f.startsWith('vigil.corrupt-'));
  assert.ok(moved.some((f) => f.endsWith('.db')), moved.join(' '));
  assert.ok(report.kind === 'quarantined' && report.moved_to.every((f) => moved.includes(path.basename(f))));
  assert.ok(second.lines().some((l) => l.includes('"level":"error"') && l.includes('moved it aside')), 'logged');
  // Keeps working: the motion stream's events arrive through the fresh database.
  await waitFor('an event recorded after the quarantine', () =>
    hub.messages.some((x) => x.topic.endsWith('/events')) || undefined, 30_000);
  assert.equal(await second.stop(), 0);
});
