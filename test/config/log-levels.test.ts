import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { validateConfig } from '../../daemon/config/load.js';
import { ConfigError } from '../../daemon/errors.js';
import { freePort, startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';

void test('log.components: one part at its own level; a misspelt component is a config error', { timeout: 60_000 }, async (t) => {
  assert.throws(() => validateConfig({ device: { id: 'a', site: 'b' }, mqtt: { url: 'mqtt://h' }, log: { components: { vidoe: 'debug' } } }, 'x.yaml'),
    (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('log.components')), 'a misspelt component');

  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  // Credentials everywhere they could leak from: the broker URL, the MQTT password, a camera URI.
  const mqttUrl = broker.url.replace('mqtt://', 'mqtt://vigil:url-s3cret@');
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') },
    mqtt: { url: mqttUrl, password: 'mqtt-s3cret' },
    streams: [
      { id: 'gate', uri: `rtsp://viewer:cam-s3cret@127.0.0.1:${await freePort()}/stream1`, restart_min_ms: 200, restart_max_ms: 500 },
    ],
    telemetry: { prometheus: { enabled: false } },
    log: { level: 'warn', components: { uplink: 'debug', video: 'trace' } },
  });
  const vigild = spawnDaemon(t, ['--config', config]);
  await vigild.waitForLine('an uplink debug line', (l) => l['component'] === 'uplink' && l.level === 'info', 30_000);
  await waitFor('a video line below warn', () => vigild.lines.find((l) => l['component'] === 'video' && (l.level === 'debug' || l.level === 'trace' || l.level === 'info')), 20_000);
  await vigild.waitForLine('the camera retrying', (l) => l['component'] === 'video' && l['stream'] === 'gate' && l.level === 'warn', 20_000);
  assert.equal((await vigild.stop()).code, 0);

  const quietParts = vigild.lines.filter((l) => ['store', 'telemetry', 'analytics', 'control', 'app'].includes(String(l['component'])));
  assert.deepEqual(quietParts.filter((l) => l.level === 'info' || l.level === 'debug'), [], 'other components stay at warn');
  const all = vigild.stdout() + vigild.stderr();
  for (const secret of ['url-s3cret', 'mqtt-s3cret', 'cam-s3cret']) assert.ok(!all.includes(secret), `${secret} in the log at debug/trace`);
});
