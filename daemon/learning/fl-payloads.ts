import { z } from 'zod';

/**
 * The federated-learning part of the hub contract. A device's update is ciphertext only: the hub
 * reads the header in clear (to route, refuse stale rounds and unknown devices, and weight by
 * samples) and decrypts the delta with its X25519 key; the header is bound to the ciphertext as
 * AES-GCM additional data and by the device's Ed25519 signature. The global model is public within
 * the site and signed by the hub.
 */

const isoTime = z.iso.datetime({ offset: true });
const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');
const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected base64url');

/** Which feature layout a model was trained on; a model for another layout is refused, not misread. */
export const FEATURE_SET = 'vigil.fl.features/1' as const;

export const flUpdateSchema = z.strictObject({
  schema: z.literal('vigil.fl_update/1'),
  /** uuid v7; the hub refuses an id it has seen (replay). */
  id: z.uuid({ version: 'v7' }),
  site: z.string().min(1),
  device: z.string().min(1),
  /** The global model round this delta was trained from; anything but the hub's current round is stale. */
  round: z.number().int().min(0),
  /** Labelled events the device trained on; FedAvg's weight. */
  samples: z.number().int().min(1),
  features: z.literal(FEATURE_SET),
  /** Length of the decrypted delta (coefficients + bias). */
  length: z.number().int().min(2).max(1_000_000),
  ts: isoTime,
  alg: z.literal('X25519-HKDF-SHA256-A256GCM+Ed25519'),
  /** The device's ephemeral X25519 public key, raw 32 bytes. */
  epk: b64url,
  iv: b64,
  tag: b64,
  /** AES-256-GCM ciphertext of the float32 little-endian delta. */
  ct: b64,
  /** Ed25519 signature by the device key over the header and the ciphertext (see signedBytes). */
  sig: b64,
});
export type FlUpdate = z.infer<typeof flUpdateSchema>;

export const flModelSchema = z.strictObject({
  schema: z.literal('vigil.fl_model/1'),
  site: z.string().min(1),
  /** 0 is the hub's starting model; each aggregation publishes round + 1. */
  round: z.number().int().min(0),
  features: z.literal(FEATURE_SET),
  /** Devices whose updates made this round (0 for the starting model). */
  participants: z.number().int().min(0),
  samples: z.number().int().min(0),
  rule: z.enum(['fedavg', 'trimmed_mean', 'median', 'initial']),
  length: z.number().int().min(2).max(1_000_000),
  ts: isoTime,
  /** float32 little-endian coefficients then bias, base64. */
  weights: b64,
  /** Ed25519 signature by the hub over everything above (see signedBytes). */
  sig: b64,
});
export type FlModel = z.infer<typeof flModelSchema>;

/**
 * The bytes a signature covers: every field but `sig`, in a fixed order, newline-joined. A fixed
 * order rather than JSON.stringify of the object, so that a re-serialising broker or hub cannot
 * change what was signed.
 */
export function signedBytes(msg: Record<string, unknown>): Buffer {
  const keys = Object.keys(msg).filter((k) => k !== 'sig').sort();
  return Buffer.from(keys.map((k) => `${k}=${String(msg[k])}`).join('\n'), 'utf8');
}
