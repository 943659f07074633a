/** Where commands write: injectable so tests capture output instead of patching process.stdout. */
export interface Output {
  raw(text: string): void;
  /** Prints JSON when asked for it, the human line otherwise. */
  result(json: boolean | undefined, value: unknown, human: string): void;
  error(text: string): void;
}

export function processOutput(): Output {
  return {
    raw: (text) => process.stdout.write(`${text}\n`),
    result: (json, value, human) => process.stdout.write(`${json ? JSON.stringify(value) : human}\n`),
    error: (text) => process.stderr.write(`${text}\n`),
  };
}
