/** CLI exit codes, mapped from typed errors at the top of `main` only. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, unauthorised: 4 } as const;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'CliError';
  }
}
