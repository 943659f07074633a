import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { isAlias, isNode, LineCounter, parseDocument, Parser, visit, type CST } from 'yaml';
import { ConfigError, errorMessage } from '../errors.js';
import { oneLine } from './one-line.js';

/**
 * vigil.yaml read and parsed within fixed bounds, so that no file, however hostile, can hang,
 * exhaust or crash the daemon: every violation is a ConfigError (exit 2, the file named), which
 * systemd's RestartPreventExitStatus=2 does not restart.
 *
 * Why bounds are needed with the `yaml` package (2.9): its composer and `toJS` recurse once per
 * nesting level. Composition catches its own stack overflow, but converting a mapping whose keys are
 * themselves nested collections (`{? {? {? …}}}`) stringifies every key level again and again: 600
 * levels (2.4 KB) took 227 s of CPU in `toJS`, with a process warning per level, before validation
 * ever ran, and memory grows with it. Aliases multiply work the same way (the "billion laughs").
 * So the file is checked on the parser's concrete syntax tree, which is built iteratively and in
 * linear time, before anything recursive sees it.
 */
const CONFIG_LIMITS = {
  /** A real vigil.yaml is a few KiB; a generated one with hundreds of streams stays far below this. */
  maxBytes: 1024 * 1024,
  /** Deepest nesting of mappings and sequences; the schema itself needs 7 (a rule's zone point). */
  maxDepth: 64,
  /** Alias nodes (`*name`) in the file; and the expansion count `yaml` allows while converting. */
  maxAliases: 100,
} as const;

/**
 * Reads at most `maxBytes` + 1 bytes, so a huge file, a FIFO or /dev/zero given as the config
 * costs one bounded read instead of all the memory.
 */
export function readBoundedFile(file: string, maxBytes: number = CONFIG_LIMITS.maxBytes): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new ConfigError([`cannot read file: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`], file);
  }
  try {
    if (fstatSync(fd).isDirectory()) throw new ConfigError(['cannot read file: it is a directory'], file);
    const buf = Buffer.alloc(maxBytes + 1);
    let size = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, size, buf.length - size, null);
      } catch (err) {
        throw new ConfigError([`cannot read file: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`], file);
      }
      if (n === 0) break;
      size += n;
      if (size > maxBytes) throw new ConfigError([`larger than ${maxBytes} bytes (${maxBytes / 1024 / 1024} MiB): not a configuration file`], file);
    }
    return buf.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** Bytes that are not text: a NUL, or a sequence that is not UTF-8. */
function binaryProblem(bytes: Buffer): string | undefined {
  const nul = bytes.indexOf(0);
  if (nul >= 0) return `line ${lineOf(bytes.subarray(0, nul).toString('latin1'), nul)}: a NUL byte: not a text file`;
  if (!isUtf8(bytes)) {
    const text = bytes.toString('utf8');
    const bad = text.indexOf('\uFFFD');
    return `${bad >= 0 ? `line ${lineOf(text, bad)}: ` : ''}not UTF-8 text`;
  }
  return undefined;
}

type Item = CST.CollectionItem;

/**
 * Walks the concrete syntax tree with an explicit stack (never recursion, whatever the depth) and
 * returns the first bound it breaks, with its offset.
 */
function structureProblem(doc: CST.Document): { offset: number; message: string } | undefined {
  const stack: { token: CST.Token; depth: number }[] = doc.value ? [{ token: doc.value, depth: 0 }] : [];
  let aliases = 0;
  while (stack.length > 0) {
    const { token, depth } = stack.pop()!;
    if (token.type === 'alias') {
      if (++aliases > CONFIG_LIMITS.maxAliases) {
        return { offset: token.offset, message: `more than ${CONFIG_LIMITS.maxAliases} aliases (*name): refused, aliases can multiply the document` };
      }
      continue;
    }
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    if (depth + 1 > CONFIG_LIMITS.maxDepth) {
      return { offset: token.offset, message: `nested deeper than ${CONFIG_LIMITS.maxDepth} levels` };
    }
    for (const item of token.items as Item[]) {
      const key = item.key;
      if (key && (key.type === 'block-map' || key.type === 'block-seq' || key.type === 'flow-collection')) {
        return { offset: key.offset, message: 'a mapping key must be a plain value, not a mapping or a sequence' };
      }
      if (key) stack.push({ token: key, depth: depth + 1 });
      if (item.value) stack.push({ token: item.value, depth: depth + 1 });
    }
  }
  return undefined;
}

/**
 * Parses one YAML document within CONFIG_LIMITS and returns it as plain data. Every failure is a
 * ConfigError naming `source` and, where there is one, the line.
 */
export function parseBoundedYaml(input: string | Buffer, source: string): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > CONFIG_LIMITS.maxBytes) {
    throw new ConfigError([`larger than ${CONFIG_LIMITS.maxBytes} bytes (${CONFIG_LIMITS.maxBytes / 1024 / 1024} MiB): not a configuration file`], source);
  }
  if (typeof input !== 'string') {
    const binary = binaryProblem(input);
    if (binary !== undefined) throw new ConfigError([binary], source);
  } else if (input.includes('\0')) {
    throw new ConfigError([`line ${lineOf(input, input.indexOf('\0'))}: a NUL byte: not a text file`], source);
  }
  const text = typeof input === 'string' ? input : input.toString('utf8');

  const lines = new LineCounter();
  const at = (offset: number): string => {
    const pos = lines.linePos(offset);
    return `line ${pos.line}, column ${pos.col}`;
  };
  for (const token of new Parser(lines.addNewLine).parse(text)) {
    if (token.type !== 'document') continue;
    const problem = structureProblem(token);
    if (problem) throw new ConfigError([`${at(problem.offset)}: ${problem.message}`], source);
  }

  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return oneLine(`${pos ? `line ${pos.line}, column ${pos.col}` : 'YAML'}: ${e.message.split('\n')[0] ?? e.code}`);
    }), source);
  }
  // An alias must follow its anchor; yaml would say so only while converting, without the line.
  const anchors = new Set<string>();
  const unresolved: string[] = [];
  visit(doc, {
    Node: (_key, node, ancestors) => {
      if (isAlias(node)) {
        const where = at(node.range?.[0] ?? 0);
        if (!anchors.has(node.source)) unresolved.push(`${where}: alias *${node.source} has no anchor &${node.source} before it`);
        // A node that contains itself has no end: refused rather than handed on as a cycle.
        else if (ancestors.some((a) => isNode(a) && a.anchor === node.source)) unresolved.push(`${where}: alias *${node.source} is inside the node it names`);
      } else if (isNode(node) && node.anchor !== undefined) {
        anchors.add(node.anchor);
      }
    },
  });
  if (unresolved.length > 0) throw new ConfigError(unresolved.map(oneLine), source);
  try {
    return doc.toJS({ maxAliasCount: CONFIG_LIMITS.maxAliases });
  } catch (err) {
    // yaml throws a ReferenceError for an alias expanded too often, or to an unknown anchor.
    throw new ConfigError([oneLine(`YAML: ${errorMessage(err)}`)], source);
  }
}
