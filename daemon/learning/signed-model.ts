import { sign, verify, type KeyObject } from 'node:crypto';
import { decodeVector, encodeVector, type Weights } from './model.js';
import { FEATURE_SET, flModelSchema, signedBytes, type FlModel } from './fl-payloads.js';

/** The hub's global model, signed with its Ed25519 key; devices accept nothing else. */

export interface ModelInfo {
  site: string;
  round: number;
  participants: number;
  samples: number;
  rule: FlModel['rule'];
}

export function signModel(info: ModelInfo, weights: ArrayLike<number>, hubSign: KeyObject, now: Date = new Date()): FlModel {
  const unsigned = {
    schema: 'vigil.fl_model/1' as const, ...info, features: FEATURE_SET, length: weights.length, ts: now.toISOString(),
    weights: encodeVector(weights).toString('base64'),
  };
  return flModelSchema.parse({ ...unsigned, sig: sign(null, signedBytes(unsigned), hubSign).toString('base64') });
}

export interface VerifiedModel {
  info: FlModel;
  weights: Weights;
}

/** Throws, saying what was wrong, unless the message is a well-formed model for this site and layout signed by the hub. */
export function verifyModel(raw: Buffer | string, site: string, hubVerify: KeyObject, expectedLength: number): VerifiedModel {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString());
  } catch {
    throw new Error('global model is not valid JSON');
  }
  const parsed = flModelSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`global model malformed: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(model)'}: ${i.message}`).join('; ')}`);
  }
  const m = parsed.data;
  let ok = false;
  try {
    ok = verify(null, signedBytes(m), hubVerify, Buffer.from(m.sig, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new Error(`global model round ${m.round}: signature does not verify with the hub key`);
  if (m.site !== site) throw new Error(`global model is for site "${m.site}", this device is in "${site}"`);
  if (m.length !== expectedLength) throw new Error(`global model has ${m.length} weights, this device's features need ${expectedLength}`);
  return { info: m, weights: decodeVector(Buffer.from(m.weights, 'base64'), m.length, `global model round ${m.round}`) };
}
