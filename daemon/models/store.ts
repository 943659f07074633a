import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { Manifest } from '../inference/manifest.js';
import type { PublicKeyEntry } from './keys.js';
import { extractPackage, readPackageHeader } from './package-file.js';
import { PackageError } from './package-error.js';
import { packageManifestSchema, type PackageManifest, type Precision } from './package-manifest.js';

/**
 * The model store under the state directory, files only (no database):
 *
 *   models/<name>/versions/<version>/   the package's files, record.json, manifest.<precision>.json
 *   models/<name>/active.json           which version serves the streams, and the one before it
 *   models/.incoming/                   packages being unpacked (never read as versions)
 *   models/.downloads/                  partial downloads, kept for resume
 *
 * Activation is one rename of active.json, so a power cut leaves the old pointer or the new one,
 * never half of each. "config" in a pointer means the model vigil.yaml names.
 */
export const CONFIG_VERSION = 'config';

export const rollbackRecordSchema = z.strictObject({
  from: z.string(), to: z.string(), reason: z.string(), at: z.string(), automatic: z.boolean(),
});
export type RollbackRecord = z.infer<typeof rollbackRecordSchema>;

export const pointerSchema = z.strictObject({
  active: z.string().min(1),
  /** Where a rollback goes; null when there is nothing before the active version. */
  previous: z.string().min(1).nullable(),
  activated_at: z.string(),
  /** probation: still being watched after activation; active: passed (or a rollback target). */
  state: z.enum(['probation', 'active']),
  last_rollback: rollbackRecordSchema.optional(),
});
export type Pointer = z.infer<typeof pointerSchema>;

const recordSchema = z.strictObject({
  manifest: packageManifestSchema,
  key_id: z.string(),
  installed_at: z.string(),
  bytes: z.number().int().min(0),
});
export type VersionRecord = z.infer<typeof recordSchema>;

export interface StoredVersion extends VersionRecord {
  version: string;
  dir: string;
}

export interface InstallResult {
  name: string;
  version: string;
  /** false: this exact package was already in the store. */
  installed: boolean;
  manifest: PackageManifest;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  // The rename itself must reach the disk before we report the activation done.
  const dh = await open(path.dirname(file), 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await dirBytes(p) : (await stat(p)).size;
  }
  return total;
}

/** The manifest the detector loader reads, for one variant of a stored package. */
export function detectorManifest(m: PackageManifest, file: string, sha256: string): Manifest {
  return {
    file, sha256, family: m.family, input: m.input, labels: m.labels, thresholds: m.thresholds, max_detections: m.max_detections,
  };
}

export class ModelStore {
  constructor(readonly root: string) {}

  private modelDir(name: string): string {
    return path.join(this.root, name);
  }

  versionDir(name: string, version: string): string {
    return path.join(this.modelDir(name), 'versions', version);
  }

  manifestPath(name: string, version: string, precision: Precision): string {
    return path.join(this.versionDir(name, version), `manifest.${precision}.json`);
  }

  downloadsDir(): string {
    return path.join(this.root, '.downloads');
  }

  /** Verifies a package (trusted signature, schema, every file's size and sha256) and adds it to the store. */
  async install(file: string, trusted: readonly PublicKeyEntry[]): Promise<InstallResult> {
    const v = await readPackageHeader(file, trusted);
    const { name, version } = v.manifest;
    const target = this.versionDir(name, version);
    if (existsSync(target)) {
      const existing = await this.record(name, version).catch(() => null);
      if (existing && JSON.stringify(existing.manifest) === JSON.stringify(v.manifest)) {
        return { name, version, installed: false, manifest: v.manifest };
      }
      throw new PackageError('exists', `${name} version ${version} is already installed with different contents; publish a new version`);
    }
    const incoming = path.join(this.root, '.incoming', randomUUID());
    try {
      await extractPackage(file, v, incoming);
      for (const variant of v.manifest.variants) {
        const f = v.manifest.files.find((x) => x.name === variant.file);
        if (!f) continue;
        await writeFile(path.join(incoming, `manifest.${variant.precision}.json`),
          `${JSON.stringify(detectorManifest(v.manifest, variant.file, f.sha256), null, 2)}\n`);
      }
      const record: VersionRecord = {
        manifest: v.manifest, key_id: v.signer.id, installed_at: new Date().toISOString(),
        bytes: v.manifest.files.reduce((n, f) => n + f.size, 0),
      };
      await writeFile(path.join(incoming, 'record.json'), `${JSON.stringify(record, null, 2)}\n`);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(incoming, target);
    } finally {
      await rm(incoming, { recursive: true, force: true });
    }
    return { name, version, installed: true, manifest: v.manifest };
  }

  async record(name: string, version: string): Promise<VersionRecord> {
    const file = path.join(this.versionDir(name, version), 'record.json');
    return recordSchema.parse(JSON.parse(await readFile(file, 'utf8')));
  }

  async versions(name: string): Promise<StoredVersion[]> {
    const dir = path.join(this.modelDir(name), 'versions');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const out: StoredVersion[] = [];
    for (const version of names) {
      try {
        out.push({ version, dir: path.join(dir, version), ...await this.record(name, version) });
      } catch {
        // a version folder without a readable record is not a version (an interrupted unpack by hand)
      }
    }
    return out.sort((a, b) => a.installed_at.localeCompare(b.installed_at));
  }

  /** Names with anything in the store. */
  async names(): Promise<string[]> {
    try {
      return (await readdir(this.root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
    } catch {
      return [];
    }
  }

  async pointer(name: string): Promise<Pointer | null> {
    const file = path.join(this.modelDir(name), 'active.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return null;
    }
    try {
      return pointerSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new PackageError('bad_manifest', `model store pointer ${file} is unreadable: ${errorMessage(err)}`);
    }
  }

  async setPointer(name: string, pointer: Pointer): Promise<void> {
    await mkdir(this.modelDir(name), { recursive: true });
    await writeAtomic(path.join(this.modelDir(name), 'active.json'), `${JSON.stringify(pointerSchema.parse(pointer), null, 2)}\n`);
  }

  /**
   * Removes the oldest versions beyond `keep` or beyond `maxBytes` in all, never the active or the
   * previous one (the rollback target). Returns the versions removed.
   */
  async prune(name: string, keep: number, maxBytes: number): Promise<string[]> {
    const pointer = await this.pointer(name);
    const protectedVersions = new Set([pointer?.active, pointer?.previous].filter((v): v is string => typeof v === 'string'));
    const all = await this.versions(name);
    let count = all.length;
    let bytes = all.reduce((n, v) => n + v.bytes, 0);
    const removed: string[] = [];
    for (const v of all) {
      if (count <= keep && bytes <= maxBytes) break;
      if (protectedVersions.has(v.version)) continue;
      await rm(v.dir, { recursive: true, force: true });
      removed.push(v.version);
      count -= 1;
      bytes -= v.bytes;
    }
    return removed;
  }

  /** Bytes on disk for one version (what prune frees). */
  async versionBytes(name: string, version: string): Promise<number> {
    return dirBytes(this.versionDir(name, version));
  }
}
