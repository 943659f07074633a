import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errorMessage, ModelError } from '../errors.js';

/**
 * Publisher keys: Ed25519 through node:crypto, PEM on disk. A key is named by its id, the first 16
 * hex digits of the sha256 of its public key (SPKI DER), so a package says which key signed it
 * and a device can say "signed by a key I do not trust" instead of only "bad signature".
 */

export interface PublicKeyEntry {
  id: string;
  key: KeyObject;
  /** Where the key came from (a path, or "inline"), for messages. */
  source: string;
}

export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

export function generateKeyPair(): { privatePem: string; publicPem: string; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    id: keyId(publicKey),
  };
}

function assertEd25519(key: KeyObject, source: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ModelError(`${source}: expected an Ed25519 key, got ${key.asymmetricKeyType ?? 'a symmetric key'}`);
  }
}

/** A trusted key from config: a PEM text itself, or the path of a PEM file. */
export function loadPublicKey(ref: string): PublicKeyEntry {
  const inline = ref.includes('-----BEGIN');
  const source = inline ? 'inline key' : ref;
  let pem: string;
  try {
    pem = inline ? ref : readFileSync(ref, 'utf8');
  } catch (err) {
    throw new ModelError(`cannot read trusted key ${ref}: ${errorMessage(err)}`, { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new ModelError(`${source}: not a PEM public key: ${errorMessage(err)}`, { cause: err });
  }
  assertEd25519(key, source);
  return { id: keyId(key), key, source };
}

export function loadPrivateKey(file: string): { key: KeyObject; id: string } {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelError(`cannot read private key ${file}: ${errorMessage(err)}`, { cause: err });
  }
  assertEd25519(key, file);
  return { key, id: keyId(createPublicKey(key)) };
}

export function signBytes(data: Buffer, key: KeyObject): string {
  return sign(null, data, key).toString('base64');
}

export function verifyBytes(data: Buffer, signature: string, key: KeyObject): boolean {
  try {
    return verify(null, data, key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
