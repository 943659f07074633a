import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { errorMessage } from '../errors.js';
import { signBytes, verifyBytes, type PublicKeyEntry } from './keys.js';
import { PackageError } from './package-error.js';
import {
  packageHeaderSchema, packageManifestSchema, type PackageHeader, type PackageManifest, type PackageManifestInput,
} from './package-manifest.js';
import { formatIssues } from './issues.js';

/**
 * One model package is one file, so that it can be downloaded with a single resumable request:
 *
 *   vigil-model-package/1\n
 *   {"manifest":"<signed JSON text>","signature":"<base64 Ed25519>","key_id":"<16 hex>"}\n
 *   <bytes of files[0]><bytes of files[1]>...
 *
 * The header is read and its signature checked before a single file byte is trusted; each file is
 * then streamed to disk while it is hashed, so a tampered, truncated or padded package is refused
 * without ever being loaded whole into memory.
 */
export const PACKAGE_MAGIC = 'vigil-model-package/1\n';
/** A header bigger than this is not a header; refuse instead of reading a model file as JSON. */
const MAX_HEADER_BYTES = 1024 * 1024;

export interface PackageSource {
  /** Name inside the package. */
  name: string;
  path: string;
}

async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/**
 * Builds and signs a package. `manifest` is everything but `files`, which is computed here from
 * the sources, in their order.
 */
export async function writePackage(out: string, manifest: Omit<PackageManifestInput, 'files'>, sources: readonly PackageSource[],
  key: { key: KeyObject; id: string }): Promise<PackageManifest> {
  const files = [];
  for (const s of sources) files.push({ name: s.name, ...await hashFile(s.path) });
  const parsed = packageManifestSchema.safeParse({ ...manifest, files });
  if (!parsed.success) throw new PackageError('bad_manifest', `invalid package manifest:\n  ${formatIssues(parsed.error.issues).join('\n  ')}`);
  const text = JSON.stringify(parsed.data);
  const header: PackageHeader = { manifest: text, signature: signBytes(Buffer.from(text), key.key), key_id: key.id };
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  const ws = createWriteStream(out);
  ws.write(PACKAGE_MAGIC);
  ws.write(`${JSON.stringify(header)}\n`);
  for (const s of sources) {
    for await (const chunk of createReadStream(s.path)) {
      if (!ws.write(chunk)) await once(ws, 'drain');
    }
  }
  ws.end();
  await once(ws, 'finish');
  return parsed.data;
}

export interface VerifiedHeader {
  header: PackageHeader;
  manifest: PackageManifest;
  /** Byte offset of the first file. */
  dataOffset: number;
  signer: PublicKeyEntry;
}

/** Reads and checks a package's header: magic, signature by a trusted key, manifest schema. */
export async function readPackageHeader(file: string, trusted: readonly PublicKeyEntry[]): Promise<VerifiedHeader> {
  const where = `package ${file}`;
  let buf: Buffer;
  try {
    const fh = await open(file, 'r');
    try {
      buf = Buffer.alloc(MAX_HEADER_BYTES + PACKAGE_MAGIC.length + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      buf = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new PackageError('unreadable', `cannot read ${where}: ${errorMessage(err)}`, { cause: err });
  }
  if (buf.subarray(0, PACKAGE_MAGIC.length).toString('latin1') !== PACKAGE_MAGIC) {
    throw new PackageError('not_a_package', `${where} is not a Vigil model package (it does not start with "${PACKAGE_MAGIC.trim()}")`);
  }
  const end = buf.indexOf(0x0a, PACKAGE_MAGIC.length);
  if (end < 0) throw new PackageError('truncated', `${where}: header incomplete (truncated, or longer than ${MAX_HEADER_BYTES} bytes)`);
  let header: PackageHeader;
  try {
    header = packageHeaderSchema.parse(JSON.parse(buf.subarray(PACKAGE_MAGIC.length, end).toString('utf8')));
  } catch (err) {
    throw new PackageError('not_a_package', `${where}: unreadable header: ${errorMessage(err)}`, { cause: err });
  }
  const signer = trusted.find((k) => k.id === header.key_id);
  if (!signer) {
    throw new PackageError('untrusted_key', `${where} is signed by key ${header.key_id}, which this device does not trust ` +
      `(trusted: ${trusted.map((k) => k.id).join(', ') || 'none; set model_store.trusted_keys'})`);
  }
  if (!verifyBytes(Buffer.from(header.manifest), header.signature, signer.key)) {
    throw new PackageError('bad_signature', `${where}: signature does not verify with key ${signer.id} (${signer.source}): ` +
      'the manifest was altered or signed by another key');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(header.manifest);
  } catch (err) {
    throw new PackageError('bad_manifest', `${where}: signed manifest is not JSON: ${errorMessage(err)}`);
  }
  const parsed = packageManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new PackageError('bad_manifest', `${where}: invalid package manifest:\n  ${formatIssues(parsed.error.issues).join('\n  ')}`);
  }
  return { header, manifest: parsed.data, dataOffset: end + 1, signer };
}

/**
 * The name and version a package's header claims, read without trusting it: only so that a refused
 * package is logged under the model it says it is. Fields it does not give stay 'unknown'.
 */
export async function claimedIdentity(file: string): Promise<{ name: string; version: string }> {
  const out = { name: 'unknown', version: 'unknown' };
  try {
    const fh = await open(file, 'r');
    let buf = Buffer.alloc(MAX_HEADER_BYTES + PACKAGE_MAGIC.length + 1);
    try {
      buf = buf.subarray(0, (await fh.read(buf, 0, buf.length, 0)).bytesRead);
    } finally {
      await fh.close();
    }
    const end = buf.indexOf(0x0a, PACKAGE_MAGIC.length);
    const header = JSON.parse(buf.subarray(PACKAGE_MAGIC.length, end < 0 ? undefined : end).toString('utf8')) as { manifest?: unknown };
    const manifest = typeof header.manifest === 'string' ? JSON.parse(header.manifest) as { name?: unknown; version?: unknown } : {};
    if (typeof manifest.name === 'string') out.name = manifest.name.slice(0, 64);
    if (typeof manifest.version === 'string') out.version = manifest.version.slice(0, 64);
  } catch {
    // not readable as a header at all: it stays unknown
  }
  return out;
}

/**
 * Streams the files of a verified package into `dir`, checking each one's size and sha256 against
 * the signed manifest. Throws (leaving partial files for the caller to remove) on any mismatch.
 */
export async function extractPackage(file: string, v: VerifiedHeader, dir: string): Promise<void> {
  const where = `package ${file}`;
  const expected = v.manifest.files.reduce((n, f) => n + f.size, 0);
  const st = await stat(file);
  const have = st.size - v.dataOffset;
  if (have < expected) {
    throw new PackageError('truncated', `${where} is truncated: its files need ${expected} bytes after the header, it holds ${have} ` +
      '(an interrupted download?)');
  }
  if (have > expected) throw new PackageError('bad_manifest', `${where} has ${have - expected} bytes more than its manifest lists`);
  await mkdir(dir, { recursive: true });
  let offset = v.dataOffset;
  for (const f of v.manifest.files) {
    const h = createHash('sha256');
    const ws = createWriteStream(path.join(dir, f.name));
    if (f.size > 0) {
      for await (const chunk of createReadStream(file, { start: offset, end: offset + f.size - 1 })) {
        h.update(chunk as Buffer);
        if (!ws.write(chunk)) await once(ws, 'drain');
      }
    }
    ws.end();
    await once(ws, 'finish');
    offset += f.size;
    const actual = h.digest('hex');
    if (actual !== f.sha256) {
      throw new PackageError('checksum_mismatch', `${where}: file ${f.name}: sha256 mismatch: signed manifest says ${f.sha256}, ` +
        `the package holds ${actual} (the file was altered after signing)`);
    }
  }
}
