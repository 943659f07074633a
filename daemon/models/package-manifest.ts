import { z } from 'zod';
import { providerSchema } from '../config/schema.js';
import { inputSpecSchema, modelFamilySchema } from '../inference/manifest.js';

/**
 * What a model package says about itself, signed by its publisher. The signature covers these
 * exact bytes, and they include every file's sha256 and size, so one signature vouches for the
 * whole package. Labels are inline: a package is one self-contained thing.
 */
export const PACKAGE_SCHEMA = 'vigil.model-package/1';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
  'expected 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
/** "config" names the model configured in vigil.yaml in the store's pointers, so no version may take it. */
export const versionSchema = name.refine((v) => v !== 'config', '"config" is reserved');
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a plain file name (no folders)');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');

export const precisionSchema = z.enum(['fp32', 'fp16', 'int8']);
export type Precision = z.infer<typeof precisionSchema>;

export const packageFileSchema = z.strictObject({ name: fileName, sha256, size: z.number().int().min(0) });

export const packageManifestSchema = z.strictObject({
  schema: z.literal(PACKAGE_SCHEMA),
  name,
  version: versionSchema,
  created: z.iso.datetime({ offset: true }),
  publisher: z.string().max(200).optional(),
  family: modelFamilySchema,
  input: inputSpecSchema,
  labels: z.array(z.string().min(1)).min(1),
  thresholds: z.strictObject({ score: z.number().min(0).max(1), iou: z.number().min(0).max(1) }),
  max_detections: z.number().int().min(1).max(10_000).default(100),
  /** Every file of the package, in the order their bytes follow the header. */
  files: z.array(packageFileSchema).min(1),
  /**
   * The same network at several precisions. An fp16 variant may name the fp32 file: TensorRT
   * builds the fp16 engine from it. An int8 variant is normally its own (quantised) file.
   */
  variants: z.array(z.strictObject({ precision: precisionSchema, file: fileName })).min(1),
  /** Per device class (e.g. "jetson-orin", "linux-x64"): the provider to try first and the precision to run. */
  preferred: z.record(z.string().min(1), z.strictObject({
    provider: providerSchema.optional(),
    precision: precisionSchema.optional(),
  })).optional(),
  /** An image in the package and what the model must find in it before it may serve a stream. */
  self_test: z.strictObject({
    image: fileName,
    expect: z.array(z.strictObject({
      label: z.string().min(1),
      box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
    })).min(1),
    /** Overlap each expected box needs with a detection of its label. */
    min_iou: z.number().min(0).max(1).default(0.5),
  }).optional(),
}).superRefine((m, ctx) => {
  const files = new Set(m.files.map((f) => f.name));
  if (files.size !== m.files.length) ctx.addIssue({ code: 'custom', path: ['files'], message: 'file names must be unique' });
  m.variants.forEach((v, i) => {
    if (!files.has(v.file)) ctx.addIssue({ code: 'custom', path: ['variants', i, 'file'], message: `"${v.file}" is not in files` });
  });
  if (new Set(m.variants.map((v) => v.precision)).size !== m.variants.length) {
    ctx.addIssue({ code: 'custom', path: ['variants'], message: 'one variant per precision' });
  }
  if (m.self_test && !files.has(m.self_test.image)) {
    ctx.addIssue({ code: 'custom', path: ['self_test', 'image'], message: `"${m.self_test.image}" is not in files` });
  }
});
export type PackageManifest = z.infer<typeof packageManifestSchema>;
export type PackageManifestInput = z.input<typeof packageManifestSchema>;

/** The package header: the signed manifest as the exact text that was signed, and who signed it. */
export const packageHeaderSchema = z.strictObject({
  manifest: z.string().min(2),
  signature: z.string().min(1),
  key_id: z.string().regex(/^[0-9a-f]{16}$/),
});
export type PackageHeader = z.infer<typeof packageHeaderSchema>;
