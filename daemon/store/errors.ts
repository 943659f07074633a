import { VigilError } from '../errors.js';

/**
 * What went wrong with the file, because the remedy differs: a corrupt file can be moved aside and
 * replaced, while an unwritable path or a newer schema must be left alone for a person to look at.
 */
export type StoreProblem = 'corrupt' | 'unwritable' | 'newer-schema' | 'other';

/**
 * The database cannot be used: unwritable path, corrupt file, or a schema written by a newer vigild.
 * The message always names the file, because the operator's next step is to look at that file.
 */
export class StoreError extends VigilError {
  readonly problem: StoreProblem;

  constructor(readonly file: string, message: string, options?: { cause?: unknown; problem?: StoreProblem }) {
    super(`${file}: ${message}`, 1, options);
    this.problem = options?.problem ?? 'other';
  }
}
