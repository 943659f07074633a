import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildProgram } from '../../cli/program.js';
import type { Output } from '../../cli/output.js';
import { call } from '../../cli/control-client.js';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { storedFacts } from '../../daemon/events/event-kinds.js';
import { alertSchema, auditMessageSchema, type AlertPayload } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { MODELS_DIR, manifestPath, openDb } from '../e2e/daemon-harness.js';
import { captureLogger, subscribe } from '../uplink/harness.js';

/**
 * The event contract through the real path, one run: car-detection.mp4 → YOLOX-Nano → tracker →
 * every kind of rule → the App's event sink → SQLite → the uplink → mosquitto → a subscriber, plus
 * a motion-only stream and a test alert through the control socket. Every message must parse as
 * `vigil.alert/1` (strict, per kind and trigger), carry the facts its stored event holds, and the
 * facts must say what the frame showed (a crossing's direction by which side the car is on).
 *
 * The clip (768×432, 377 frames; see the rules tests for what is in it): four cars drive along an
 * aisle seen from above, two down the picture and two up. YOLOX-Nano calls cars seen from above
 * "cell phone", "suitcase" or "bus", hence the classes and a class-agnostic tracker. The line lies
 * across the aisle at y = 250, drawn left to right: side `a` above it, `b` below. The clip plays at
 * its own rate (realtime, 30 s) like a camera: rule times (dwell, stillness, update intervals) are
 * wall-clock, so decoding as fast as the analysis allows would make them depend on the machine's speed.
 */

const CLASSES = ['car', 'truck', 'bus', 'cell phone', 'suitcase'];
const LINE_Y = 250;
/** The lower half of the frame: the zone and count rules' polygon. */
const LOWER: [number, number][] = [[0, 216], [768, 216], [768, 432], [0, 432]];
const DWELL_S = 0.5;
const STILL_S = 0.5;

/** Envelope fields; everything else in a message is the kind's facts. */
const ENVELOPE = new Set(['schema', 'id', 'device', 'site', 'stream', 'rule', 'severity', 'ts', 'objects', 'phase', 'activity',
  'ended_at', 'duration_s', 'end_reason', 'test', 'snapshot', 'stored']);
const factsOf = (m: AlertPayload): Record<string, unknown> => Object.fromEntries(Object.entries(m).filter(([k]) => !ENVELOPE.has(k)));
/** Facts an activity's end may change or add after its start was sent. */
const END_FACTS = new Set(['inside_s', 'stationary_s', 'count']);

const bottomCentre = (box: readonly number[]): [number, number] => [((box[0] ?? 0) + (box[2] ?? 0)) / 2, box[3] ?? 0];
const inLower = ([, y]: [number, number]): boolean => y >= 216;

test('every event kind reaches a real subscriber with its kind and typed facts, as stored; the line and count scenario of issue 22', async (t) => {
  const dir = await tempDir(t, 'vigil-contract-');
  const broker = await startMosquitto(t);
  const storage = path.join(dir, 'state');
  const socket = path.join(dir, 'vigild.sock');
  const clip = pathToFileURL(sharedPath('video', 'car-detection.mp4')).href;
  const tracked = { stream: 'aisle', classes: CLASSES, min_score: 0.3 };
  const cfg = validateConfig({
    device: { id: 'lot-1', site: 'depot' },
    storage: { dir: storage },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    models: [{ name: 'yolox-nano', manifest: manifestPath('yolox-nano'), providers: ['cpu'] }],
    control: { enabled: true, socket },
    evidence: { enabled: false },
    streams: [
      { id: 'aisle', uri: clip, model: 'yolox-nano', realtime: true, loop: false, fps: 12.5, activity_update_s: 1,
        tracker: { class_agnostic: true }, motion: { enabled: false } },
      // No model: motion onsets are this stream's events.
      { id: 'gate', uri: clip, realtime: true, loop: false, fps: 12.5 },
    ],
    rules: [
      { ...tracked, id: 'aisle', kind: 'line', line: [[0, LINE_Y], [768, LINE_Y]], margin: 8, severity: 'alert' },
      { ...tracked, id: 'lotcount', kind: 'count', zone: LOWER, every_s: 1, above: 0, below: 1, severity: 'info' },
      { ...tracked, id: 'lower', kind: 'zone', zone: LOWER, events: ['enter', 'dwell', 'presence'], dwell_s: DWELL_S, severity: 'warning' },
      { ...tracked, id: 'leaving', kind: 'zone', zone: LOWER, events: ['exit'], severity: 'warning' },
      // A generous radius: what is checked here is that the facts arrive, not what counts as parked.
      { ...tracked, id: 'parked', kind: 'stationary', stationary_s: STILL_S, max_move: 300, severity: 'warning' },
      { ...tracked, id: 'anycar', kind: 'presence', min_frames: 1, cooldown_s: 5, severity: 'info' },
    ],
  }, 'contract test');
  const { log } = captureLogger('info');
  const hub = await subscribe(t, broker.url, 'vigil/v1/depot/lot-1/#');
  const app = new App(cfg, log, { statsIntervalMs: 0 });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await app.stop();
  });
  await app.start(new AbortController().signal);
  await waitFor('the uplink to connect', () => hub.messages.some((m) => m.topic.endsWith('/state')) || undefined, 30_000);
  const testAlert = await call(socket, { method: 'test_alert.send' }) as { event_id: string };

  await waitFor('both clips to end', () => {
    const streams = app.status().streams;
    for (const s of streams) if (s.state === 'backoff') throw new Error(`stream ${s.id} failed: ${String(s.lastError)}`);
    return streams.length === 2 && streams.every((s) => s.state === 'ended') ? true : undefined;
  }, 240_000, 50);
  const aisle = app.status().streams.find((s) => s.id === 'aisle');
  t.diagnostic(`aisle: ${aisle?.analysis.framesAnalysed} frames analysed of ${aisle?.framesPulled} pulled, ${aisle?.framesDropped} dropped`);
  const db = openDb(t, storage);
  await waitFor('the outbox to drain', () => (db.prepare('SELECT count(*) FROM outbox').pluck().get() === 0 ? true : undefined), 30_000);
  // Model, storage and audit events leave on their own topics as vigil.model/1, vigil.storage/1 and
  // vigil.audit/1 (their own contract tests); here: everything that leaves as vigil.alert/1.
  const rows = db.prepare("SELECT id, kind, payload FROM events WHERE kind NOT IN ('model', 'storage', 'audit')").all() as { id: string; kind: string; payload: string }[];
  const stored = new Map(rows.map((r) => {
    try {
      return [r.id, storedFacts(r.kind, JSON.parse(r.payload) as Record<string, unknown>)];
    } catch (err) {
      throw new Error(`event ${r.kind} ${r.payload}: ${String(err)}`);
    }
  }));
  await waitFor('every event at the subscriber', () => {
    const ids = new Set(hub.messages.map((m) => (m.json as { id?: string }).id));
    return rows.every((r) => ids.has(r.id)) || undefined;
  }, 30_000);

  // `vigilctl events show` prints the kind and the facts, through the daemon's control socket.
  const firstLine = rows.find((r) => r.kind === 'line');
  assert.ok(firstLine, 'a crossing was stored');
  const shown: string[] = [];
  const out: Output = { raw: (s) => shown.push(s), result: (_j, _v, human) => shown.push(human), error: (s) => shown.push(s) };
  await buildProgram(out).parseAsync(['events', 'show', firstLine.id, '--socket', socket], { from: 'user' });
  const lineFacts = stored.get(firstLine.id);
  assert.ok(lineFacts?.kind === 'line');
  assert.match(shown.join('\n'), new RegExp(`kind: line direction=${lineFacts.direction} track_id=${lineFacts.track_id}\\n`));

  await app.stop();
  stopped = true;

  // Every message on …/alerts and …/events is a strict vigil.alert/1 of its kind.
  const alerts = hub.messages.filter((m) => /\/(alerts|events)$/.test(m.topic)).map((m) => alertSchema.parse(m.json));
  const summary = [...new Set(alerts.map((m) => `${m.kind}${'trigger' in m ? `/${m.trigger}` : ''}`))].sort();
  t.diagnostic(`${alerts.length} messages, ${rows.length} events: ${summary.join(', ')}`);
  assert.deepEqual(summary, ['count/above', 'count/below', 'count/periodic', 'line', 'motion', 'presence', 'stationary', 'test',
    'zone/dwell', 'zone/enter', 'zone/exit', 'zone/presence']);

  for (const m of alerts) {
    const facts = stored.get(m.id);
    assert.ok(facts, `message ${m.id} is of a stored event`);
    assert.equal(m.activity, m.phase, 'the first revision\'s `activity` repeats the phase');
    // The facts on the wire are the stored facts, unchanged; a start or update was sent before
    // its end added to them.
    const wire = factsOf(m);
    const kept = (f: Record<string, unknown>): Record<string, unknown> =>
      (m.phase === 'start' || m.phase === 'update' ? Object.fromEntries(Object.entries(f).filter(([k]) => !END_FACTS.has(k))) : f);
    assert.deepEqual(kept(wire), kept(facts as Record<string, unknown>), `${m.rule} ${m.phase ?? 'one-off'}`);
    checkFacts(m);
  }

  // Activities: start, updates and end share the id; every one closed when its clip ended.
  const phases = new Map<string, string[]>();
  for (const m of alerts) if (m.phase) phases.set(m.id, [...phases.get(m.id) ?? [], m.phase]);
  assert.ok(phases.size > 0);
  for (const [id, seen] of phases) {
    assert.equal(seen[0], 'start', id);
    assert.equal(seen.at(-1), 'end', id);
  }
  const updated = alerts.filter((m) => m.phase === 'update').map((m) => `${m.kind}${'trigger' in m ? `/${m.trigger}` : ''}`);
  t.diagnostic(`updates: ${updated.join(', ')}`);
  assert.ok(updated.length > 0, 'an open activity sent an update');
  assert.ok(alerts.some((m) => m.id === testAlert.event_id && m.kind === 'test' && m.test === true));
  // The control call that sent it was audited, on …/audit.
  const audits = hub.messages.filter((m) => m.topic.endsWith('/audit')).map((m) => auditMessageSchema.parse(m.json));
  assert.ok(audits.some((a) => a.method === 'test_alert.send' && a.outcome === 'accepted'));

  // Issue 22's scenario: which way each car crossed, which track it was, how many the count saw.
  const crossings = alerts.filter((m) => m.kind === 'line');
  t.diagnostic(`crossings: ${crossings.map((m) => `${m.direction} track ${m.track_id}`).join('; ')}`);
  assert.deepEqual({ a_to_b: crossings.filter((m) => m.direction === 'a_to_b').length, b_to_a: crossings.filter((m) => m.direction === 'b_to_a').length },
    { a_to_b: 2, b_to_a: 2 });
  assert.equal(new Set(crossings.map((m) => m.track_id)).size, 4, 'each car once');
  const counts = alerts.filter((m) => m.kind === 'count' && m.trigger === 'periodic').map((m) => (m.kind === 'count' ? m.count : -1));
  t.diagnostic(`periodic counts: ${counts.join(', ')}`);
  assert.ok(counts.length >= 2 && counts.some((c) => c > 0), counts.join(', '));
});

/** What each kind's facts must say about the objects the message carries. */
function checkFacts(m: AlertPayload): void {
  const where = `${m.rule} ${m.kind} ${m.phase ?? 'one-off'}`;
  const first = m.objects[0]?.box;
  switch (m.kind) {
    case 'line': {
      // The object is the crossing car as seen on the far side, past the 8 px margin (its box is
      // sent in whole pixels, so up to half a pixel nearer than the rule saw it).
      assert.ok(first, where);
      const [, y] = bottomCentre(first);
      assert.ok(m.direction === 'a_to_b' ? y >= LINE_Y + 7.5 : y <= LINE_Y - 7.5, `${where}: ${m.direction} with the car at y = ${y}`);
      return;
    }
    case 'count':
      if (m.trigger === 'periodic') assert.equal(m.count, m.objects.length, where);
      else if (m.phase === 'start') {
        assert.equal(m.count, m.objects.length, where);
        assert.equal(m.threshold, m.trigger === 'above' ? 0 : 1, where);
        assert.ok(m.trigger === 'above' ? m.count > 0 : m.count < 1, where);
      } else if (m.phase === 'end' && m.end_reason === 'cleared') assert.ok(m.trigger === 'above' ? m.count <= 0 : m.count >= 1, where);
      return;
    case 'zone':
      if (m.trigger === 'presence') {
        assert.ok(m.phase !== 'start' || (m.count >= 1 && m.count === m.objects.length), where);
        return;
      }
      assert.ok(Number.isInteger(m.track_id), where);
      if (m.trigger === 'enter' && m.phase === 'start') assert.ok(first && inLower(bottomCentre(first)), `${where}: entered inside`);
      if (m.trigger === 'dwell') assert.ok(m.dwell_s >= DWELL_S, where);
      // An exit carries the object as last seen inside, and how long it stayed.
      if (m.trigger === 'exit') assert.ok(m.inside_s > 0 && first !== undefined, where);
      if (m.phase === 'end' && m.end_reason === 'exit') assert.ok(m.inside_s !== undefined && m.inside_s > 0, where);
      return;
    case 'stationary':
      assert.ok(m.stationary_s >= STILL_S && Number.isInteger(m.track_id), where);
      return;
    case 'presence':
      assert.ok(m.objects.length > 0 && m.objects.every((o) => CLASSES.includes(o.label)), where);
      return;
    case 'motion':
      assert.ok(m.objects.length > 0 && m.objects.every((o) => o.label === 'motion'), where);
      return;
    case 'test':
      assert.equal(m.test, true, where);
  }
}

