import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Provider } from '../config/schema.js';
import type { PackageManifest, Precision } from './package-manifest.js';

/**
 * Which kind of device this is, for a package's `preferred` table and the TensorRT engine cache
 * key: an engine built for one GPU (or TensorRT version) must never be loaded on another.
 * A Jetson names its module in the device tree; elsewhere platform and architecture.
 */
export function detectDeviceClass(readModel: () => string = () => readFileSync('/proc/device-tree/model', 'utf8')): string {
  try {
    const model = readModel().replace(/\0/g, '').trim().toLowerCase();
    if (model.includes('orin')) return 'jetson-orin';
    if (model.includes('xavier')) return 'jetson-xavier';
    if (model.includes('jetson')) return 'jetson';
  } catch {
    // not a device-tree machine
  }
  return `${process.platform}-${process.arch}`;
}

export interface VariantChoice {
  precision: Precision;
  file: string;
  /** Providers in the order to try: the package's preference for this class first. */
  providers: Provider[];
}

/** The variant and provider order for this device class; the fp32 (or first) variant when nothing is preferred. */
export function chooseVariant(m: PackageManifest, deviceClass: string, configured: readonly Provider[]): VariantChoice {
  const pref = m.preferred?.[deviceClass];
  const byPrecision = (p: Precision | undefined): PackageManifest['variants'][number] | undefined =>
    p === undefined ? undefined : m.variants.find((v) => v.precision === p);
  const variant = byPrecision(pref?.precision) ?? byPrecision('fp32') ?? m.variants[0];
  if (!variant) throw new Error('package has no variants'); // the schema requires one
  const providers = pref?.provider !== undefined && configured.includes(pref.provider)
    ? [pref.provider, ...configured.filter((p) => p !== pref.provider)] : [...configured];
  return { precision: variant.precision, file: variant.file, providers };
}

/**
 * The TensorRT engine cache folder for one model file at one precision on one kind of device.
 * onnxruntime names cached engines by the graph, not by the weights or the build flags, so a new
 * version of a model, an fp16 build of the same file, or a card moved to another board would
 * otherwise reuse a stale engine. The key changes when any of the three does.
 */
export function engineCacheKey(modelSha256: string, precision: Precision, deviceClass: string): string {
  const slug = deviceClass.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'device';
  const digest = createHash('sha256').update(`${modelSha256}\0${precision}\0${deviceClass}`).digest('hex').slice(0, 16);
  return `${modelSha256.slice(0, 12)}-${precision}-${slug}-${digest}`;
}
