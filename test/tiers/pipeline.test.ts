import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { connectAsync } from 'mqtt';
import { call } from '../../cli/control-client.js';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { localEventSchema } from '../../daemon/actions/local-event.js';
import { alertSchema, type AlertPayload } from '../../daemon/uplink/payloads.js';
import { manifestPath } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { captureLogger } from '../uplink/harness.js';

const device = { id: 'room-1', site: 'gallery' };

/**
 * The three tiers end to end, in-process, on real parts: one-by-one-person-detection.mp4 through
 * NanoDet-m, the tracker and a zone around the reading stand (see test/rules/dwell-video.test.ts for
 * what the clip holds); a real mosquitto is both the site's local broker and the hub. The first
 * person's stay (7.5-19 s into the clip) must yield one event that is acted on locally (local MQTT
 * and a hook), alerted to the hub, snapshotted, timed at every stage, and reviewable.
 */
test('an event goes through all three tiers with its timings recorded, exported and shown', async (t) => {
  const dir = await tempDir(t, 'vigil-tiers-');
  const broker = await startMosquitto(t);
  const hook = path.join(dir, 'hook');
  await writeFile(hook, `#!/bin/sh\necho "$VIGIL_EVENT_ID $VIGIL_RULE $1" >> ${dir}/hook.log\n`);
  await chmod(hook, 0o755);
  const socket = path.join(dir, 'vigild.sock');
  const cfg = validateConfig({
    device,
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: sharedPath('models'),
    models: [{ name: 'nanodet-m', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    control: { socket },
    streams: [{ id: 'room', uri: pathToFileURL(sharedPath('video', 'one-by-one-person-detection.mp4')).href, model: 'nanodet-m', realtime: false, fps: 2 }],
    rules: [{ id: 'stand', stream: 'room', kind: 'zone', classes: ['person'], zone: [[370, 340], [560, 340], [560, 425], [370, 425]], events: ['enter'], severity: 'alert' }],
    actions: {
      mqtt: { url: broker.url, topic: 'site/{stream}/{rule}' },
      on: [{ severities: ['alert', 'critical'], mqtt: true, command: [hook, 'siren'] }],
    },
    telemetry: { prometheus: { enabled: true, listen: '127.0.0.1:0' } },
  }, 'tiers test');

  const hub = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'hub' });
  t.after(() => hub.endAsync(true));
  const alerts: AlertPayload[] = [];
  const evidence: { eventId: unknown; jpeg: Buffer }[] = [];
  const local: unknown[] = [];
  hub.on('message', (topic, payload, packet) => {
    if (topic.endsWith('/alerts')) alerts.push(alertSchema.parse(JSON.parse(payload.toString())));
    else if (topic.endsWith('/evidence')) evidence.push({ eventId: packet.properties?.userProperties?.['event_id'], jpeg: payload });
    else if (topic.startsWith('site/')) local.push(JSON.parse(payload.toString()));
  });
  await hub.subscribeAsync([`vigil/v1/${device.site}/${device.id}/+`, 'site/#'], { qos: 1 });

  const { log, lines } = captureLogger('info');

  const app = new App(cfg, log, { statsIntervalMs: 0 });
  t.after(() => app.stop());
  await app.start(new AbortController().signal);

  // The first person's stay: its start, then its end, which names the snapshot.
  const end = await waitFor('the first stay to end', () => alerts.find((a) => a.activity === 'end'), 60_000);
  const id = end.id;
  assert.equal(alerts.filter((a) => a.id === id && a.activity === 'start').length, 1);
  assert.ok(end.snapshot, 'the end message names the snapshot');
  assert.equal(end.snapshot.ref, `${id}.jpg`);

  await waitFor('the evidence JPEG', () => evidence.find((e) => e.eventId === id));
  const jpeg = evidence.find((e) => e.eventId === id)!.jpeg;
  assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  assert.equal(jpeg.length, end.snapshot.bytes);

  // Tier 1: the local message and the hook, both for this event.
  await waitFor('the local message', () => local.find((m) => (m as { id?: unknown }).id === id));
  assert.equal(localEventSchema.parse(local.find((m) => (m as { id?: unknown }).id === id)).rule, 'stand');
  const hookLog = await waitFor('the hook to run', async () => {
    const text = await readFile(path.join(dir, 'hook.log'), 'utf8').catch(() => '');
    return text.includes(id) ? text : undefined;
  });
  assert.match(hookLog, new RegExp(`^${id} stand siren$`, 'm'));

  // Every stage timed, in order, and shown by events.show.
  const detail = await waitFor('all four stage timings', async () => {
    const d = await call(socket, { method: 'events.show', params: { id } });
    const tm = d.timings;
    return tm && tm.commit_ms !== null && tm.action_ms !== null && tm.puback_ms !== null && tm.evidence_ms !== null ? d : undefined;
  });
  const tm = detail.timings!;
  t.diagnostic(`after inference: commit ${tm.commit_ms} ms, local action ${tm.action_ms} ms, PUBACK ${tm.puback_ms} ms, evidence ${tm.evidence_ms} ms`);
  assert.ok(tm.commit_ms! >= 0 && tm.commit_ms! <= tm.action_ms!, 'the action follows the commit');
  assert.ok(tm.commit_ms! <= tm.puback_ms! + 1, 'the PUBACK follows the commit (store clock in whole ms)');
  assert.ok(tm.commit_ms! <= tm.evidence_ms!, 'the evidence follows the commit');
  assert.equal(detail.snapshot?.bytes, jpeg.length);

  // Distributions: p50/p99 per stage in the status, histograms on /metrics.
  const tiers = app.status().tiers;
  assert.ok(tiers);
  for (const stage of ['commit', 'action', 'puback', 'evidence'] as const) {
    const p = tiers.latencyMs[stage];
    assert.ok(p && p.samples >= 1 && p.p50 <= p.p99, `${stage}: ${JSON.stringify(p)}`);
  }
  assert.deepEqual([tiers.latencyMs.action?.limit_ms, tiers.latencyMs.puback?.limit_ms, tiers.latencyMs.evidence?.limit_ms], [50, 200, 5000]);
  assert.equal(tiers.actions.failed, 0);
  const listen = (lines.find((l) => l.msg === 'Prometheus metrics at /metrics') as { listen?: string } | undefined)?.listen;
  const metrics = await (await fetch(`http://${String(listen)}/metrics`)).text();
  for (const stage of ['commit', 'action', 'puback', 'evidence']) {
    const count = new RegExp(`^vigil_event_stage_ms_count\\{stage="${stage}"\\} (\\d+)$`, 'm').exec(metrics);
    assert.ok(count && Number(count[1]) >= 1, `histogram count for ${stage}`);
  }
  assert.match(metrics, /^vigil_event_stage_ms_bucket\{le="50",stage="action"\} \d+$/m);
});
