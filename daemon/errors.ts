/** Errors that carry an exit code, so that only `main` decides how the process ends. */
export class VigilError extends Error {
  constructor(message: string, readonly exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The configuration is invalid; the daemon refuses to start (exit code 2). */
export class ConfigError extends VigilError {
  constructor(readonly problems: string[], source: string) {
    super(`invalid configuration in ${source}:\n  ${problems.join('\n  ')}`, 2);
  }
}

/** A model could not be loaded: missing file, checksum mismatch, unknown family, bad tensors. */
export class ModelError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
