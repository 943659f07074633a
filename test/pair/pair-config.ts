import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigInput } from '../../daemon/config/schema.js';
import { MODELS_DIR, manifestPath, writeConfig } from '../e2e/daemon-harness.js';

/**
 * One device of the pair tests and bench: the dog clip as camera `gate` (a dog in every frame, so
 * every analysed frame is a presence alert), YOLOX-Nano on the CPU, no Prometheus, no evidence.
 * Each caller adds its `pair` section and overrides what its scenario needs (mqtt, evidence, actions).
 */
export function dogCameraDevice(id: 'a' | 'b', site: string, storageDir: string, mqtt: ConfigInput['mqtt'], clip: string): ConfigInput {
  return {
    device: { id, site }, storage: { dir: storageDir }, mqtt,
    models_dir: MODELS_DIR,
    models: [{ name: 'yolox', manifest: manifestPath('yolox-nano'), providers: ['cpu'] }],
    streams: [{ id: 'gate', uri: clip, model: 'yolox', loop: true, realtime: true, fps: 4 }],
    rules: [{ id: 'dog', stream: 'gate', kind: 'presence', classes: ['dog'], min_score: 0.3, cooldown_s: 0, severity: 'alert' }],
    telemetry: { prometheus: { enabled: false } },
    evidence: { enabled: false },
  };
}

export type PairSide = 'a' | 'b';

/** Writes each side's config under `dir/<side>/` (made here) and returns the two files; `configFor` gets the side and its peer. */
export async function writePairConfigs(dir: string, configFor: (id: PairSide, other: PairSide) => ConfigInput): Promise<Record<PairSide, string>> {
  const files = { a: '', b: '' };
  for (const id of ['a', 'b'] as const) {
    await mkdir(path.join(dir, id));
    files[id] = await writeConfig(path.join(dir, id), configFor(id, id === 'a' ? 'b' : 'a'));
  }
  return files;
}
