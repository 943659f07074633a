import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../helpers/shared.js';

/** The text of one `## heading` section of README.md (or another markdown file), up to the next `## `. */
export async function readmeSection(heading: string, file = 'README.md'): Promise<string> {
  const text = await readFile(path.join(repoRoot, file), 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`${file} has no "## ${heading}" section`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** The contents of the fenced code blocks in `markdown`, in order. */
export function fencedBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}
