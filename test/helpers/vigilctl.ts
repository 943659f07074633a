import type { Output } from '../../cli/output.js';
import { runVigilctl } from '../../cli/run.js';

/** The real vigilctl entry (exit code, not an exception), with what it printed on stdout and stderr. */
export async function vigilctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const output: Output = { raw: (t) => out.push(t), result: (j, v, h) => out.push(j ? JSON.stringify(v) : h), error: (t) => err.push(t) };
  const code = await runVigilctl(args, output);
  return { code, out: out.join('\n'), err: err.join('\n') };
}
