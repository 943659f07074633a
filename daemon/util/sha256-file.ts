import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * Lower-case hex sha256 of a file, read as a stream (64 KiB at a time): a clip of tens of MiB is
 * hashed without holding the event loop for the whole of it.
 */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file).on('data', (b) => hash.update(b)).on('error', reject).on('end', () => resolve(hash.digest('hex')));
  });
}
