import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { repoRoot } from '../helpers/shared.js';

const silent: Output = { raw: () => undefined, result: () => undefined, error: () => undefined };

/** Every `vigilctl …` the manual shows: in code blocks (a line) and in inline code (a span). */
async function documentedCommands(): Promise<{ where: string; line: string }[]> {
  const files = ['README.md', ...(await readdir(path.join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const found: { where: string; line: string }[] = [];
  for (const file of files) {
    const text = await readFile(path.join(repoRoot, file), 'utf8');
    text.split('\n').forEach((raw, i) => {
      const where = `${file}:${i + 1}`;
      for (const m of raw.matchAll(/`(vigilctl [^`]+)`/g)) found.push({ where, line: m[1] ?? '' });
      const block = /^\s*(?:\$\s+|#\s*)?(?:sudo\s+)?(vigilctl\s.*)$/.exec(raw);
      if (block && !raw.includes('`')) found.push({ where, line: block[1] ?? '' });
    });
  }
  return found;
}

/**
 * The words of a documented command up to where it stops being literal: a placeholder (`<id>`,
 * `FILE`, `[…]`, `…`), a shell operator or a comment.
 */
function words(line: string): string[] {
  const out: string[] = [];
  for (const w of line.replace(/\s+#.*$/, '').split(/\s+/).slice(1)) {
    if (/^[|&;>]/.test(w)) break;
    // `list\|install\|activate` in a table: alternatives, of which the first is checked.
    out.push(w.split(/\\?\|/)[0] ?? w);
  }
  return out;
}

function optionNames(cmd: Command): Set<string> {
  const names = new Set<string>(['--help', '-h']);
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const o of c.options) {
      if (o.long) names.add(o.long);
      if (o.short) names.add(o.short);
      // commander's negatable form: --no-activate is declared as such, --activate is its positive.
      if (o.long?.startsWith('--no-')) names.add(`--${o.long.slice(5)}`);
    }
  }
  return names;
}

test('every vigilctl command the README and docs/ show exists, with the options they give it', async () => {
  const program = buildProgram(silent);
  const problems: string[] = [];
  const documented = await documentedCommands();
  assert.ok(documented.length > 40, `only ${documented.length} documented commands found: the scan is broken`);
  for (const { where, line } of documented) {
    let cmd: Command = program;
    const ws = words(line);
    let i = 0;
    // Down the subcommands while the words name them.
    for (; i < ws.length; i++) {
      const w = ws[i] ?? '';
      const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
      if (!sub) break;
      cmd = sub;
    }
    if (cmd === program) {
      const first = ws[0] ?? '';
      // `vigilctl --version`, or prose like "vigilctl's": only a word that looks like a command is checked.
      if (/^[a-z][a-z-]*$/.test(first)) problems.push(`${where}: \`${line}\`: no command "${first}"`);
      continue;
    }
    if (cmd.commands.length > 0 && i === ws.length) continue; // a command group named on its own
    const known = optionNames(cmd);
    for (const w of ws.slice(i)) {
      const opt = /^\[?(--?[a-zA-Z][\w-]*)/.exec(w)?.[1];
      if (opt !== undefined && !known.has(opt)) problems.push(`${where}: \`${line}\`: ${cmd.name()} has no option ${opt}`);
    }
  }
  assert.deepEqual(problems, []);
});
