import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../daemon/config/load.js';
import { clipSettingsFor, ringKeepMs } from '../../daemon/evidence/clip-settings.js';
import { errorMessage } from '../../daemon/errors.js';

const base = {
  device: { id: 'box-1', site: 'depot' }, mqtt: { url: 'mqtt://127.0.0.1:1883' },
  streams: [{ id: 'cam', uri: 'file:///dev/null' }],
};
const rule = { id: 'door', stream: 'cam', kind: 'zone', zone: [[0, 0], [1, 0], [1, 1]], classes: ['person'] };

const refused = (raw: unknown): string => {
  try {
    validateConfig(raw, 'vigil.yaml');
  } catch (err) {
    return errorMessage(err);
  }
  throw new Error('the config was accepted');
};

test('clip settings: evidence.clips, then the stream\'s, then the rule\'s override; false anywhere turns them off', () => {
  const cfg = validateConfig({
    ...base,
    streams: [{ id: 'cam', uri: 'file:///dev/null', clips: { pre_roll_s: 8, max_s: 30 } }, { id: 'yard', uri: 'file:///dev/null' }],
    rules: [
      { ...rule, clips: { post_roll_s: 12 } },
      { id: 'gate', stream: 'cam', kind: 'line', classes: ['person'], line: [[0, 0], [1, 1]] },
      { ...rule, id: 'quiet', clips: false },
      { ...rule, id: 'yard-zone', stream: 'yard' },
    ],
    evidence: { clips: { pre_roll_s: 4 } },
  }, 'vigil.yaml');
  const [door, gate, quiet, yard] = cfg.rules;
  assert.deepEqual(clipSettingsFor(cfg.evidence, cfg.streams[0], door!), { preRollMs: 8000, postRollMs: 12_000, maxMs: 30_000 });
  assert.deepEqual(clipSettingsFor(cfg.evidence, cfg.streams[0], gate!), { preRollMs: 8000, postRollMs: 5000, maxMs: 30_000 });
  assert.equal(clipSettingsFor(cfg.evidence, cfg.streams[0], quiet!), null);
  assert.deepEqual(clipSettingsFor(cfg.evidence, cfg.streams[1], yard!), { preRollMs: 4000, postRollMs: 5000, maxMs: 60_000 });
  assert.equal(ringKeepMs(cfg.evidence, cfg.streams[0]!, cfg.rules), 8000);
  assert.equal(ringKeepMs(cfg.evidence, cfg.streams[1]!, cfg.rules), 4000);
  // Snapshots off means no evidence at all: no clips either.
  const off = validateConfig({ ...base, rules: [rule], evidence: { enabled: false } }, 'vigil.yaml');
  assert.equal(clipSettingsFor(off.evidence, off.streams[0], off.rules[0]!), null);
});

test('bad clip settings are refused with the path that is wrong', () => {
  assert.match(refused({ ...base, rules: [{ ...rule, clips: true }] }), /rules\[0\]\.clips: expected false, or an object of pre_roll_s, post_roll_s and max_s/);
  assert.match(refused({ ...base, rules: [{ ...rule, clips: { pre_roll_s: 120 } }] }), /rules\[0\]\.clips\.pre_roll_s/);
  assert.match(refused({ ...base, rules: [{ ...rule, clips: { preroll: 3 } }] }), /rules\[0\]\.clips.*preroll/s);
  assert.match(refused({ ...base, streams: [{ id: 'cam', uri: 'file:///dev/null', clips: { max_s: 0 } }] }), /streams\[0\]\.clips\.max_s/);
  assert.match(refused({ ...base, evidence: { clips: { ring_mb: 0 } } }), /evidence\.clips\.ring_mb/);
  assert.match(refused({ ...base, evidence: { clips: { severities: [] } } }), /evidence\.clips\.severities/);
});
