import { existsSync } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { PackageError } from './package-error.js';

/** An upload's id, chosen by the client: it names a file, so nothing but these characters. */
export const UPLOAD_ID = /^[A-Za-z0-9-]{8,64}$/;

/** Larger than any model package a Jetson runs (YOLO-class models with engines are a few hundred MB). */
export const MAX_UPLOAD_BYTES = 2 * 1024 ** 3;

/** An upload not finished within this long is abandoned (vigilctl killed mid-way) and deleted. */
const ABANDONED_MS = 60 * 60 * 1000;

/**
 * Model packages sent over the control socket in pieces (`models.upload`), for `vigilctl models
 * install FILE`: the daemon reads the bytes it was sent, not a path that the unit's PrivateTmp or
 * ProtectHome hide from it. Pieces are appended in order; a piece at the wrong offset is refused
 * with the offset expected, so a client that lost a reply resumes where the file ends.
 */
export class PackageUploads {
  constructor(private readonly dir: string, private readonly maxBytes = MAX_UPLOAD_BYTES) {}

  fileOf(id: string): string {
    if (!UPLOAD_ID.test(id)) throw new PackageError('unreadable', `upload id "${id.slice(0, 80)}" is not 8-64 letters, digits or dashes`);
    return path.join(this.dir, `upload-${id}.vpkg`);
  }

  /** Appends `data` at `offset`; returns the bytes received so far. */
  async append(id: string, offset: number, data: Buffer): Promise<number> {
    const file = this.fileOf(id);
    await mkdir(this.dir, { recursive: true });
    const size = existsSync(file) ? (await stat(file)).size : 0;
    if (offset !== size) throw new PackageError('unreadable', `upload ${id}: piece at offset ${offset}, expected ${size}`);
    if (size + data.length > this.maxBytes) {
      await rm(file, { force: true });
      throw new PackageError('unreadable', `upload ${id}: larger than ${this.maxBytes} bytes; abandoned`);
    }
    const handle = await open(file, 'a');
    try {
      await handle.write(data);
    } finally {
      await handle.close();
    }
    return size + data.length;
  }

  /** The finished upload's file, for the install to read; it deletes it afterwards with discard(). */
  async finished(id: string): Promise<string> {
    const file = this.fileOf(id);
    const found = await stat(file).then(() => true, () => false);
    if (!found) throw new PackageError('unreadable', `no upload ${id} on this daemon (send it with models.upload first)`);
    return file;
  }

  async discard(id: string): Promise<void> {
    await rm(this.fileOf(id), { force: true });
  }

  /** Deletes uploads nobody finished (their client died), so they cannot fill the model store's disk. */
  async pruneAbandoned(now = Date.now()): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.startsWith('upload-'))) {
      const file = path.join(this.dir, name);
      const st = await stat(file).catch(() => null);
      if (st && now - st.mtimeMs > ABANDONED_MS) await rm(file, { force: true });
    }
  }
}
