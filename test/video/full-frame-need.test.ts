import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { callUnchecked } from '../../cli/control-client.js';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { fullFramesWanted } from '../../daemon/streams/full-frame-need.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { capturedLogger } from './fixtures.js';

void test('the full-resolution branch is wanted for the console, or for a rule whose severity gets evidence snapshots', () => {
  const cfg = (over: Record<string, unknown>) => validateConfig({
    device: { id: 'd', site: 's' }, mqtt: { url: 'mqtt://127.0.0.1:1' },
    streams: [{ id: 'a', uri: 'test://ball' }, { id: 'b', uri: 'test://ball' }],
    rules: [
      { id: 'info', stream: 'a', kind: 'presence', classes: ['person'], severity: 'info' },
      { id: 'alert', stream: 'b', kind: 'presence', classes: ['person'], severity: 'alert' },
    ],
    ...over,
  }, 'test');
  const plain = cfg({});
  assert.equal(fullFramesWanted(plain, 'a'), false, 'info is not among evidence.severities by default');
  assert.equal(fullFramesWanted(plain, 'b'), true);
  assert.equal(fullFramesWanted(plain, 'c'), false, 'a stream without rules');
  assert.equal(fullFramesWanted(cfg({ evidence: { severities: ['info'] } }), 'a'), true);
  assert.equal(fullFramesWanted(cfg({ evidence: { enabled: false } }), 'b'), false, 'evidence off');
  assert.equal(fullFramesWanted(cfg({ evidence: { enabled: false }, console: { enabled: true } }), 'a'), true, 'the console shows every stream');
});

interface SnapshotBody { width: number; height: number; bytes: number }

/**
 * A real daemon: streams whose rules take no snapshots decode no full frames; a SIGHUP reload that
 * raises a rule's severity into evidence.severities brings its stream the branch; `vigilctl
 * snapshot` of a stream without the branch adds it and still answers with a camera-size picture.
 */
void test('the branch follows need: off without snapshots, brought by a reload, added on demand by a snapshot', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const socket = path.join(dir, 'vigild.sock');
  const file = path.join(dir, 'vigil.yaml');
  const config = (quietSeverity: string): Record<string, unknown> => ({
    device: { id: 'cam', site: 'lab' },
    storage: { dir: path.join(dir, 'state') },
    // No broker: events stay in the outbox, which this test does not look at.
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    control: { enabled: true, socket },
    telemetry: { prometheus: { enabled: false } },
    streams: [
      { id: 'quiet', uri: 'test://ball?width=640&height=480&fps=10', fps: 5 },
      { id: 'loud', uri: 'test://ball?width=320&height=240&fps=10', fps: 5 },
      { id: 'bare', uri: 'test://smpte?width=800&height=600&fps=10', fps: 5 },
    ],
    rules: [
      { id: 'door', stream: 'quiet', kind: 'presence', classes: ['person'], severity: quietSeverity },
      { id: 'gate', stream: 'loud', kind: 'presence', classes: ['person'], severity: 'alert' },
    ],
  });
  await writeFile(file, stringify(config('info')));
  const { log, lines } = capturedLogger('debug');
  const app = new App(validateConfig(config('info'), file), log, { configFile: file, statsIntervalMs: 0 });
  await app.start(new AbortController().signal);
  t.after(() => app.stop());

  const records = (): Record<string, unknown>[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  /** The pipelines built for `stream` so far, oldest first (stream.ts logs each at debug, credentials redacted). */
  const pipelines = (stream: string): string[] =>
    records().filter((r) => r['msg'] === 'pipeline' && r['stream'] === stream).map((r) => String(r['pipeline']));
  const snapshot = (stream: string): Promise<SnapshotBody> =>
    callUnchecked(socket, { method: 'snapshot', params: { stream, overlay: false } }, 10_000) as Promise<SnapshotBody>;

  await waitFor('all three streams playing', () =>
    (app.status().streams.filter((s) => s.state === 'playing' && s.framesPulled > 0).length === 3 ? true : undefined), 30_000);
  assert.doesNotMatch(pipelines('quiet').at(-1) ?? '', /name=full/, 'an info rule takes no snapshot: no branch');
  assert.doesNotMatch(pipelines('bare').at(-1) ?? '', /name=full/, 'no rules, console off: no branch');
  assert.match(pipelines('loud').at(-1) ?? '', /name=full/, 'an alert rule takes snapshots');

  // SIGHUP: the file now gives the quiet stream's rule a severity that gets snapshots.
  const built = pipelines('quiet').length;
  await writeFile(file, stringify(config('alert')));
  const result = await app.reload();
  assert.ok(result.applied.includes('rules of stream quiet replaced between two frames'), JSON.stringify(result));
  const rebuilt = await waitFor('the quiet stream rebuilt with the branch', () => pipelines('quiet').slice(built).find((d) => d.includes('name=full')));
  assert.match(rebuilt, /tee name=d d\. ! queue leaky=downstream max-size-buffers=1 ! videoconvert ! video\/x-raw,format=I420 ! fakesink name=full/);
  const quiet = await snapshot('quiet');
  assert.deepEqual([quiet.width, quiet.height], [640, 480], 'a camera-size snapshot');
  assert.ok(!records().some((r) => r['msg']?.toString().startsWith('snapshot asked') && r['stream'] === 'quiet'), 'the reload had brought it; the snapshot added nothing');

  // By hand, of a stream nothing else needs full frames of: the branch is added, the answer camera-size.
  const bare = await snapshot('bare');
  assert.deepEqual([bare.width, bare.height], [800, 600]);
  assert.ok(bare.bytes > 1000);
  assert.match(pipelines('bare').at(-1) ?? '', /name=full/);
  assert.ok(records().some((r) => r['msg'] === 'restarting the pipeline to add its full-resolution branch' && r['stream'] === 'bare'));
  const bareBuilt = pipelines('bare').length;
  await snapshot('bare');
  assert.equal(pipelines('bare').length, bareBuilt, 'a second snapshot finds the branch there: no restart');
});
