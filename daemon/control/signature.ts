import { createHash, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { Auth } from './protocol.js';

/**
 * Operator signatures on remote commands (Ed25519, node:crypto). Shared by vigild, which verifies,
 * and vigilctl, which signs, so that both build the signed bytes with the same code.
 *
 * What is signed is a canonical JSON text (keys sorted at every level, no whitespace) of the
 * device the command is meant for, the method, the request id, the params exactly as sent (before
 * the device applies defaults), the time and the nonce. Binding the target means a command signed
 * for one device cannot be replayed to another; binding the params means none can be altered.
 */
export const SIGNATURE_SCHEME = 'vigil.cmd-sig/1';

export interface SignedFields {
  /** `site/device` of the device that is to run the command. */
  target: string;
  method: string;
  id: string;
  /** The request's `params` as sent; undefined when the request has none. */
  params: unknown;
  ts: number;
  nonce: string;
}

/** JSON with object keys sorted at every level; undefined members left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function signedBytes(f: SignedFields): Buffer {
  return Buffer.from(canonicalJson({
    scheme: SIGNATURE_SCHEME, target: f.target, method: f.method, id: f.id, params: f.params ?? null, ts: f.ts, nonce: f.nonce,
  }), 'utf8');
}

/** The 32 raw bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/**
 * Reads an operator public key as configured: base64 of the 32 raw bytes (what `vigilctl keygen`
 * prints) or a PEM `PUBLIC KEY` block. Throws with what was wrong.
 */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  if (trimmed.startsWith('-----BEGIN')) {
    try {
      key = createPublicKey(trimmed);
    } catch {
      throw new Error('not a readable PEM public key');
    }
  } else {
    const raw = /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
    if (raw.length !== 32) throw new Error('expected base64 of a 32-byte Ed25519 public key (vigilctl keygen prints one) or a PEM block');
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 key, not ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

/** The key id operators sign with: short, stable, derived from the key so that nobody has to assign one. */
export function keyFingerprint(key: KeyObject): string {
  return `ed25519:${createHash('sha256').update(rawPublicKey(key)).digest('base64url').slice(0, 22)}`;
}

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

/** The `auth` envelope for a request; `privateKey` must be an Ed25519 private key. */
export function signRequest(privateKey: KeyObject, fields: Omit<SignedFields, 'ts' | 'nonce'>,
  ts = Date.now(), nonce = newNonce()): Auth {
  const publicKey = createPublicKey(privateKey);
  const sig = sign(null, signedBytes({ ...fields, ts, nonce }), privateKey).toString('base64');
  return { key_id: keyFingerprint(publicKey), ts, nonce, sig };
}

export function verifySignature(publicKey: KeyObject, fields: SignedFields, sig: string): boolean {
  const bytes = Buffer.from(sig, 'base64');
  if (bytes.length !== 64) return false;
  try {
    return verify(null, signedBytes(fields), publicKey, bytes);
  } catch {
    return false;
  }
}
