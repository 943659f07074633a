import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../daemon/config/load.js';
import { ConfigError } from '../../daemon/errors.js';

const base = {
  device: { id: 'd', site: 's' }, mqtt: { url: 'mqtt://localhost' },
  streams: [{ id: 'cam', uri: 'test://ball' }],
};

test('rule problems are reported at their own path, per kind', () => {
  const rules = [
    { id: 'a', stream: 'cam', kind: 'line', classes: ['car'], line: [[0, 0]], direction: 'up' },
    { id: 'b', stream: 'cam', kind: 'zone', classes: ['person'], zone: [[0, 0], [1, 0], [1, 1]], events: ['loiter'] },
    { id: 'c', stream: 'cam', kind: 'stationary', classes: ['car'], schedule: [{ from: '25:00', to: '06:00' }] },
    { id: 'd', stream: 'cam', kind: 'tripwire', classes: ['car'] },
  ];
  try {
    validateConfig({ ...base, rules }, 'test');
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    const text = err.message;
    for (const path of ['rules[0].line', 'rules[0].direction', 'rules[1].events[0]', 'rules[2].schedule[0].from', 'rules[3].kind']) {
      assert.ok(text.includes(`${path}:`), `${path} in:\n${text}`);
    }
  }
});

test('an existing presence config still loads with its old defaults; streams get the CPU-detector tracker defaults', () => {
  const cfg = validateConfig({ ...base, rules: [{ id: 'p', stream: 'cam', kind: 'presence', classes: ['person'] }] }, 'test');
  const rule = cfg.rules[0];
  assert.ok(rule?.kind === 'presence');
  assert.equal(rule.cooldown_s, 30);
  assert.equal(rule.min_frames, 1);
  assert.equal(cfg.streams[0]?.tracker.high_score, 0.5);
  assert.equal(cfg.streams[0]?.tracker.new_track_score, 0.6);
  assert.equal(cfg.streams[0]?.tracker.low_score, 0.1);
});
