import { readFile } from 'node:fs/promises';
import { errorMessage, ModelError } from '../errors.js';

/**
 * Reads a labels file: one class name per line, line index = class id. Blank lines at the end are
 * an editor's newline, not classes; a blank line in the middle would shift every later id, so it
 * is refused rather than guessed at.
 */
export async function readLabels(file: string, what: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ModelError(`cannot read ${what} ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new ModelError(`${what} ${file} is empty`);
  const blank = lines.indexOf('');
  if (blank >= 0) throw new ModelError(`${what} ${file}: line ${blank + 1} is blank (it would shift every later class id)`);
  return lines;
}
