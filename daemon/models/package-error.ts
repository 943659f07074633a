import { ModelError } from '../errors.js';

/** Why a package or an activation was refused; the code travels to vigilctl and the hub. */
export type RefusalCode = 'unreadable' | 'not_a_package' | 'truncated' | 'untrusted_key' | 'bad_signature' | 'bad_manifest'
  | 'checksum_mismatch' | 'download_failed' | 'exists' | 'unknown_model' | 'unknown_version' | 'incompatible'
  | 'load_failed' | 'self_test_failed' | 'busy' | 'no_previous';

export class PackageError extends ModelError {
  constructor(readonly code: RefusalCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
