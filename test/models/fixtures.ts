import path from 'node:path';
import { build, keygen } from '../../scripts/package-model.js';
import { sharedPath } from '../helpers/shared.js';
import { repoRoot } from '../helpers/shared.js';

/** Model packages for tests, built with the real packaging command from the real shared models. */

export interface KeyFiles { priv: string; pub: string }

export function makeKey(dir: string, name: string): KeyFiles {
  const prefix = path.join(dir, name);
  keygen(prefix);
  return { priv: `${prefix}.key.pem`, pub: `${prefix}.pub.pem` };
}

/** The known answers of the shared YOLOX-Nano README for images/dog.jpg, as self-test expectations. */
export const YOLOX_DOG_EXPECT = ['dog=133,205,325,543', 'bicycle=110,137,572,425', 'car=466,78,694,172'];

export interface PackageSpec {
  model: 'nanodet-m' | 'yolox-nano';
  name: string;
  version: string;
  key: KeyFiles;
  /** Another ONNX file in place of the manifest's (a broken model). */
  onnx?: string;
  /** Another manifest (one that does not fit the ONNX file). */
  manifest?: string;
  selfTest?: { image: string; expect: string[] };
}

export async function makePackage(dir: string, spec: PackageSpec): Promise<string> {
  const out = path.join(dir, `${spec.name}-${spec.version}-${Math.random().toString(16).slice(2, 8)}.vpkg`);
  await build({
    manifest: spec.manifest ?? path.join(repoRoot, 'models', `${spec.model}.json`), modelsDir: sharedPath('models'),
    ...(spec.onnx !== undefined ? { onnx: spec.onnx } : {}),
    name: spec.name, version: spec.version, key: spec.key.priv, out, variant: [], prefer: [],
    ...(spec.selfTest ? { selfTestImage: spec.selfTest.image } : {}), expect: spec.selfTest?.expect ?? [],
  });
  return out;
}
