import { createCipheriv, createDecipheriv, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, sign, verify,
  type KeyObject } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { decodeVector, encodeVector } from './model.js';
import { FEATURE_SET, flUpdateSchema, signedBytes, type FlUpdate } from './fl-payloads.js';
import { rawX25519, x25519FromRaw } from './keys.js';

/**
 * One device update, sealed: ECDH between a fresh ephemeral X25519 key and the hub's X25519 key,
 * HKDF-SHA256 to an AES-256-GCM key (the ephemeral key is the salt, the header the info), the
 * header as additional data, and an Ed25519 signature by the device over header and ciphertext.
 * A fresh ephemeral key per update gives every update its own key, so a nonce is never reused.
 */

export interface UpdateHeader {
  site: string;
  device: string;
  round: number;
  samples: number;
}

const ALG = 'X25519-HKDF-SHA256-A256GCM+Ed25519' as const;

function headerText(h: Omit<FlUpdate, 'iv' | 'tag' | 'ct' | 'sig'>): Buffer {
  return signedBytes({ ...h });
}

function deriveKey(shared: Buffer, epk: string, info: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.from(epk, 'base64url'), info, 32));
}

export function sealUpdate(header: UpdateHeader, delta: ArrayLike<number>, keys: { hubEncrypt: KeyObject; deviceSign: KeyObject },
  now: Date = new Date()): FlUpdate {
  const eph = generateKeyPairSync('x25519');
  const epk = rawX25519(eph.publicKey);
  const head = {
    schema: 'vigil.fl_update/1' as const, id: uuidv7(), site: header.site, device: header.device, round: header.round,
    samples: header.samples, features: FEATURE_SET, length: delta.length, ts: now.toISOString(), alg: ALG, epk,
  };
  const aad = headerText(head);
  const key = deriveKey(diffieHellman({ privateKey: eph.privateKey, publicKey: keys.hubEncrypt }), epk, aad);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(encodeVector(delta)), cipher.final()]);
  const unsigned = { ...head, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
  const sig = sign(null, signedBytes(unsigned), keys.deviceSign).toString('base64');
  return flUpdateSchema.parse({ ...unsigned, sig });
}

/** Why an update was refused; the hub counts each. */
export type RefusalReason = 'malformed' | 'wrong_site' | 'unknown_device' | 'bad_signature' | 'stale_round' | 'replayed'
  | 'undecryptable' | 'bad_delta';

export class RefusedUpdate extends Error {
  constructor(readonly reason: RefusalReason, message: string) {
    super(message);
    this.name = 'RefusedUpdate';
  }
}

/**
 * Parses and checks the signature only; the cheap checks first so that junk costs little. Round,
 * replay and decryption are the aggregator's business (it knows the round and what it has seen).
 */
export function verifyUpdate(raw: Buffer | string, site: string, deviceKey: (device: string) => KeyObject | undefined): FlUpdate {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString());
  } catch {
    throw new RefusedUpdate('malformed', 'update is not valid JSON');
  }
  const parsed = flUpdateSchema.safeParse(json);
  if (!parsed.success) {
    throw new RefusedUpdate('malformed', parsed.error.issues.map((i) => `${i.path.join('.') || '(update)'}: ${i.message}`).join('; '));
  }
  const u = parsed.data;
  if (u.site !== site) throw new RefusedUpdate('wrong_site', `update for site "${u.site}", this hub serves "${site}"`);
  const key = deviceKey(u.device);
  if (!key) throw new RefusedUpdate('unknown_device', `device "${u.device}" is not in the device-key registry`);
  let ok = false;
  try {
    ok = verify(null, signedBytes(u), key, Buffer.from(u.sig, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new RefusedUpdate('bad_signature', `update ${u.id} from "${u.device}": signature does not verify with its registered key`);
  return u;
}

export function openUpdate(u: FlUpdate, hubDecrypt: KeyObject): Float64Array {
  const { iv, tag, ct } = u;
  const aad = headerText({ schema: u.schema, id: u.id, site: u.site, device: u.device, round: u.round, samples: u.samples,
    features: u.features, length: u.length, ts: u.ts, alg: u.alg, epk: u.epk });
  let plain: Buffer;
  try {
    const key = deriveKey(diffieHellman({ privateKey: hubDecrypt, publicKey: x25519FromRaw(u.epk) }), u.epk, aad);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAAD(aad);
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    plain = Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]);
  } catch (err) {
    throw new RefusedUpdate('undecryptable', `update ${u.id}: cannot decrypt (${(err as Error).message})`);
  }
  try {
    return decodeVector(plain, u.length, `update ${u.id}`);
  } catch (err) {
    throw new RefusedUpdate('bad_delta', (err as Error).message);
  }
}
