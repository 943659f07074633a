import { VigilError } from '../errors.js';

/**
 * The database cannot be used: unwritable path, corrupt file, or a schema written by a newer vigild.
 * The message always names the file, because the operator's next step is to look at that file.
 */
export class StoreError extends VigilError {
  constructor(readonly file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, 1, options);
  }
}
