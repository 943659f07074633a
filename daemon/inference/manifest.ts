import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { errorMessage, ModelError } from '../errors.js';
import { readLabels } from './labels.js';
import type { BatchProfile } from './session.js';

/**
 * The one definition of a model manifest (`model.json`): which file, which checksum, which decoder,
 * and how a frame must be turned into the model's input. The type is inferred from the schema, so
 * the validator and the code that reads a manifest cannot drift apart.
 */

const rgbTriple = z.tuple([z.number(), z.number(), z.number()]);

const FAMILIES = ['nanodet', 'yolox', 'yolov8'] as const;
export const modelFamilySchema = z.enum(FAMILIES, {
  error: (issue) => `unknown family ${JSON.stringify(issue.input)}: expected one of ${FAMILIES.map((f) => `"${f}"`).join(', ')}`,
});
export type ModelFamily = z.infer<typeof modelFamilySchema>;

export const inputSpecSchema = z.strictObject({
  /** Input tensor name; may be left out when the model has exactly one input. */
  name: z.string().min(1).optional(),
  width: z.number().int().min(1).max(8192),
  height: z.number().int().min(1).max(8192),
  /** Channel order the model was trained with; mean/std are given in this order too. */
  colour: z.enum(['bgr', 'rgb']),
  layout: z.enum(['nchw', 'nhwc']).default('nchw'),
  /** letterbox: aspect kept, rest padded (what the video pipeline delivers); stretch: frame fills the input. */
  resize: z.enum(['letterbox', 'stretch']).default('letterbox'),
  letterbox_align: z.enum(['top-left', 'centre']).default('top-left'),
  /** Padding in raw pixel units (0-255), before normalisation, as the model's training letterbox used. */
  pad_value: z.number().min(0).max(255).default(114),
  mean: rgbTriple.default([0, 0, 0]),
  /** Either std (value = (v - mean) / std) or scale (value = (v - mean) * scale), not both. */
  std: rgbTriple.refine((s) => s.every((v) => v > 0), 'every std must be > 0').optional(),
  scale: z.number().positive().optional(),
  /**
   * Frames one run may take, for a model exported with a dynamic batch dimension: when several
   * streams have a frame waiting, up to this many go in one run. 1 (the default) for a model
   * exported with batch 1; above 1 the loader refuses a model whose batch dimension is fixed.
   */
  max_batch: z.number().int().min(1).max(64).default(1),
}).refine((i) => i.std === undefined || i.scale === undefined, {
  message: 'give either std or scale, not both',
  path: ['scale'],
  // Report this beside the other problems instead of only once they are fixed.
  when: (payload) => typeof payload.value === 'object' && payload.value !== null,
}).refine((i) => i.max_batch === 1 || i.name !== undefined, {
  message: 'a max_batch above 1 needs the input\'s name: TensorRT\'s optimization profile for the batch range names it',
  path: ['name'],
  when: (payload) => typeof payload.value === 'object' && payload.value !== null,
});
export type InputSpec = z.infer<typeof inputSpecSchema>;

export const manifestSchema = z.strictObject({
  /** Model file, relative to the models directory when one is configured, else to this manifest. */
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits'),
  family: modelFamilySchema,
  input: inputSpecSchema,
  /** A labels file (one name per line, resolved like `file`) or the names inline; index = class id. */
  labels: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  thresholds: z.strictObject({
    score: z.number().min(0).max(1),
    iou: z.number().min(0).max(1),
  }),
  max_detections: z.number().int().min(1).max(10_000).default(100),
});
export type Manifest = z.infer<typeof manifestSchema>;

/**
 * The batch range of a model that takes several frames in one run (undefined for batch 1), for
 * TensorRT's optimization profile. The schema guarantees the name when max_batch is above 1.
 */
export function batchProfileOf(input: InputSpec): BatchProfile | undefined {
  if (input.max_batch <= 1 || input.name === undefined) return undefined;
  const frame = input.layout === 'nchw' ? [3, input.height, input.width] : [input.height, input.width, 3];
  return { input: input.name, maxBatch: input.max_batch, frame };
}

/** A validated manifest with its relative paths resolved and its labels read. */
export interface ResolvedManifest {
  manifestPath: string;
  manifest: Manifest;
  modelPath: string;
  labels: readonly string[];
}

function formatPath(p: readonly PropertyKey[]): string {
  return p.reduce<string>((acc, k) => typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k), '') || '(root)';
}

/** Validates a parsed manifest, reporting every problem at once, each with its field path. */
export function parseManifest(raw: unknown, manifestPath: string): Manifest {
  const parsed = manifestSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  throw new ModelError(`invalid model manifest ${manifestPath}:\n  ${problems.join('\n  ')}`);
}

/**
 * A models directory, when configured, is where the model store keeps files, so it wins over the
 * manifest's own folder; without one, a manifest and its files travel together.
 */
export function resolveModelFile(ref: string, manifestPath: string, modelsDir?: string): string {
  if (path.isAbsolute(ref)) return ref;
  return path.resolve(modelsDir ?? path.dirname(path.resolve(manifestPath)), ref);
}

export async function loadManifest(manifestPath: string, modelsDir?: string): Promise<ResolvedManifest> {
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new ModelError(`cannot read model manifest ${manifestPath}: ${errorMessage(err)}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelError(`invalid model manifest ${manifestPath}: not JSON: ${errorMessage(err)}`, { cause: err });
  }
  const manifest = parseManifest(raw, manifestPath);
  const modelPath = resolveModelFile(manifest.file, manifestPath, modelsDir);
  let labels: readonly string[];
  if (typeof manifest.labels === 'string') {
    const labelsPath = resolveModelFile(manifest.labels, manifestPath, modelsDir);
    labels = await readLabels(labelsPath, `labels of model manifest ${manifestPath}`);
  } else {
    labels = manifest.labels;
  }
  return { manifestPath, manifest, modelPath, labels };
}
