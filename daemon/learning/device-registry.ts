import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * The hub's list of devices allowed to take part, with their Ed25519 public keys (PEM), as YAML or
 * JSON: `devices: { cam-1: "-----BEGIN PUBLIC KEY-----…" }`. An update from a device not listed is
 * refused before its signature is even checked.
 */
const registrySchema = z.strictObject({
  devices: z.record(z.string().min(1), z.string().includes('BEGIN PUBLIC KEY', { message: 'expected a PEM public key' })),
});

export function loadRegistry(file: string): Map<string, KeyObject> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`device registry ${file}: ${(err as Error).message}`);
  }
  const parsed = registrySchema.safeParse(doc);
  if (!parsed.success) {
    throw new Error(`device registry ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
  }
  const out = new Map<string, KeyObject>();
  for (const [device, pem] of Object.entries(parsed.data.devices)) {
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new Error(`device registry ${file}: devices.${device}: not a readable public key (${(err as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`device registry ${file}: devices.${device}: expected an ed25519 key`);
    out.set(device, key);
  }
  return out;
}
