import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { EvidenceRefusedNotice, OutboxFilePart } from '../store/types.js';
import { sha256File } from '../inference/checksum.js';

/** Why a file is not sent, as the store records and reports it. */
export type Refusal = Omit<EvidenceRefusedNotice, 'kind' | 'event_id'>;

export type PartCheck = { state: 'ok' } | { state: 'pending' } | { state: 'refused'; refusal: Refusal };

interface Verified {
  state: 'pending' | 'ok' | 'refused';
  /** Size and mtime when it was hashed: a change since means hashing again. */
  size: number;
  mtimeMs: number;
  refusal?: Refusal;
}

/** Files whose verdict is remembered; older ones are hashed again if asked about. */
const REMEMBERED = 256;

/**
 * The evidence side of the drainer: before the first part of a file leaves, the whole file is
 * hashed (asynchronously, as a stream) and compared with the sha256 recorded when it was written;
 * afterwards each part is read from the file at publish time, with a stat to notice a file that
 * changed since it was hashed. A file that does not match is refused, never sent.
 */
export class EvidenceReader {
  private readonly files = new Map<string, Verified>();

  /** `onSettled` is called when a hash finishes, so the drainer looks at the waiting parts again. */
  constructor(private readonly onSettled: () => void) {}

  check(part: OutboxFilePart): PartCheck {
    const refusal = (reason: Refusal['reason'], actualSha: string | null, actualBytes: number | null): Refusal => ({
      file_kind: part.kind, name: path.basename(part.path) || '(unknown)', reason, expected_sha256: part.sha256,
      actual_sha256: actualSha, expected_bytes: part.bytes, actual_bytes: actualBytes,
    });
    const refused = (r: Refusal): PartCheck => ({ state: 'refused', refusal: r });
    if (part.path === '') return refused(refusal('missing', null, null));
    const key = `${part.path}\0${part.sha256}`;
    const known = this.files.get(key);
    if (known?.state === 'pending') return { state: 'pending' };
    if (known?.state === 'refused' && known.refusal) return { state: 'refused', refusal: known.refusal };
    let st;
    try {
      st = statSync(part.path);
    } catch (err) {
      return refused(refusal((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable', null, null));
    }
    if (known?.state === 'ok' && known.size === st.size && known.mtimeMs === st.mtimeMs) return { state: 'ok' };
    this.remember(key, { state: 'pending', size: st.size, mtimeMs: st.mtimeMs });
    const { size, mtimeMs } = st;
    sha256File(part.path).then((sha) => {
      const bad = size !== part.bytes ? refusal('size_changed', sha, size) : sha !== part.sha256 ? refusal('sha256_mismatch', sha, size) : null;
      this.remember(key, bad ? { state: 'refused', size, mtimeMs, refusal: bad } : { state: 'ok', size, mtimeMs });
    }, () => {
      this.remember(key, { state: 'refused', size, mtimeMs, refusal: refusal('unreadable', null, null) });
    }).finally(() => this.onSettled());
    return { state: 'pending' };
  }

  /** The part's bytes, read now; throws (with the file named) when it cannot be read whole. */
  read(part: OutboxFilePart): Buffer {
    const buf = Buffer.allocUnsafe(part.length);
    let fd: number | undefined;
    try {
      fd = openSync(part.path, 'r');
      let got = 0;
      while (got < part.length) {
        const n = readSync(fd, buf, got, part.length - got, part.offset + got);
        if (n === 0) throw new Error(`ends at ${part.offset + got}, before ${part.offset + part.length}`);
        got += n;
      }
      return buf;
    } catch (err) {
      throw new Error(`cannot read ${part.path}: ${errorMessage(err)}`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Forgets what is known of a file (it was refused and reported, or is done). */
  forget(part: OutboxFilePart): void {
    this.files.delete(`${part.path}\0${part.sha256}`);
  }

  private remember(key: string, v: Verified): void {
    this.files.delete(key);
    this.files.set(key, v);
    if (this.files.size > REMEMBERED) {
      // The oldest entry that is not being hashed: a pending one's result must find its entry.
      for (const [k, e] of this.files) {
        if (e.state !== 'pending') {
          this.files.delete(k);
          break;
        }
      }
    }
  }
}
