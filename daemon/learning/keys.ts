import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Keys of federated learning, all PEM files: the device signs with Ed25519; the hub signs models
 * with Ed25519 and receives updates encrypted to its X25519 key.
 */

export function readPublicKey(file: string, type: 'ed25519' | 'x25519', what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(file));
  } catch (err) {
    throw new Error(`${what} ${file}: not a readable PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== type) throw new Error(`${what} ${file}: expected an ${type} key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

export function readPrivateKey(file: string, type: 'ed25519' | 'x25519', what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch (err) {
    throw new Error(`${what} ${file}: not a readable PEM private key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== type) throw new Error(`${what} ${file}: expected an ${type} key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

export function publicPem(key: KeyObject): string {
  return createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
}

export function privatePem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Writes a new key pair as `<base>.key` (0600) and `<base>.pub`; returns the private key. */
export function writeKeyPair(dir: string, base: string, type: 'ed25519' | 'x25519'): KeyObject {
  mkdirSync(dir, { recursive: true });
  const { privateKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519');
  writeFileSync(path.join(dir, `${base}.key`), privatePem(privateKey), { mode: 0o600 });
  writeFileSync(path.join(dir, `${base}.pub`), publicPem(privateKey));
  return privateKey;
}

/**
 * The device's signing key, made on first use: a device needs no provisioning step to take part,
 * but the hub ignores it until its public key is in the registry.
 */
export function loadOrCreateDeviceKey(file: string): KeyObject {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privatePem(privateKey), { mode: 0o600, flag: 'wx' });
  }
  return readPrivateKey(file, 'ed25519', 'learning.device_key');
}

/** Raw 32-byte X25519 public key as base64url, and back. */
export function rawX25519(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('not an OKP public key');
  return jwk.x;
}

export function x25519FromRaw(x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}
