import { isDeepStrictEqual } from 'node:util';
import { Document, isMap, isScalar, isSeq, parseDocument, Scalar, stringify, YAMLMap, YAMLSeq, type Node } from 'yaml';

/**
 * Writes an edited config back in the operator's own layout: the edit (made on a clone of the
 * parsed document) is found by walking both trees, and only the text of what changed is replaced
 * in the original — a scalar's value, a flow collection on its line, a key or list item added at
 * the end of its block or removed with its lines. Everything else, flow mappings, spacing,
 * alignment, quotes and comments, stays byte for byte. Whatever this cannot place (a reordered
 * list, a change of style) falls back to rendering the whole document; the result is always
 * checked to parse to exactly the edited document.
 */
export function renderEdited(originalText: string, before: Document, after: Document): string {
  const full = (): string => after.toString({ lineWidth: 0 });
  if (before.errors.length > 0 || before.contents === null || after.contents === null) return full();
  const edits = spliceNode(originalText, before.contents, after.contents, false);
  if (edits === null) return full();
  let text = originalText;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) text = text.slice(0, e.start) + e.text + text.slice(e.end);
  const check = parseDocument(text);
  return check.errors.length === 0 && isDeepStrictEqual(check.toJS(), after.toJS()) ? text : full();
}

interface Edit { start: number; end: number; text: string }

const plain = (n: Node | null | undefined): unknown => (n === null || n === undefined ? null : (n as { toJSON(): unknown }).toJSON());

function spliceNode(text: string, o: Node, n: Node, inFlow: boolean): Edit[] | null {
  if (isDeepStrictEqual(plain(o), plain(n))) return [];
  const range = o.range;
  if (!range) return null;
  if (isScalar(o) && isScalar(n)) return [{ start: range[0], end: range[1], text: scalarText(o, n.value, inFlow) }];
  const flow = (isMap(o) || isSeq(o)) && o.flow === true;
  if (isMap(o) && isMap(n)) {
    const finer = mapEdits(text, o, n, flow || inFlow);
    if (finer !== null) return finer;
  } else if (isSeq(o) && isSeq(n) && !flow) {
    const finer = seqEdits(text, o, n);
    if (finer !== null) return finer;
  }
  // A flow collection is rewritten whole on its line, in flow style (padded as it was), when its keys changed.
  if (flow && (isMap(n) || isSeq(n))) {
    const one = flowText(n, text[range[0] + 1] === ' ');
    return one.includes('\n') ? null : [{ start: range[0], end: range[1], text: one }];
  }
  return null;
}

function flowText(n: YAMLMap | YAMLSeq, padded: boolean): string {
  n.flow = true;
  return new Document(n).toString({ lineWidth: 0, flowCollectionPadding: padded }).trimEnd();
}

/** The new value in the old one's quoting where it had any, plain where plain is safe. */
function scalarText(o: Scalar, value: unknown, inFlow: boolean): string {
  if (typeof value !== 'string') return stringify(value).trimEnd();
  if (o.type === Scalar.QUOTE_DOUBLE) return JSON.stringify(value);
  if (o.type === Scalar.QUOTE_SINGLE && !value.includes('\n')) return `'${value.replaceAll("'", "''")}'`;
  const rendered = stringify(value, { lineWidth: 0 }).trimEnd();
  if (rendered.includes('\n') || (inFlow && /[,[\]{}]/.test(rendered))) return JSON.stringify(value);
  return rendered;
}

const lineStart = (text: string, at: number): number => text.lastIndexOf('\n', at - 1) + 1;
/** The offset just past the line `at` is on (or `at` itself when it already starts a line). */
const pastLine = (text: string, at: number): number => {
  if (at > 0 && text[at - 1] === '\n') return at;
  const nl = text.indexOf('\n', at);
  return nl < 0 ? text.length : nl + 1;
};
const indentLines = (block: string, col: number): string => block.split('\n').map((l) => (l === '' ? l : ' '.repeat(col) + l)).join('\n');

function mapEdits(text: string, o: YAMLMap, n: YAMLMap, inFlow: boolean): Edit[] | null {
  const keyOf = (k: unknown): unknown => (isScalar(k) ? k.value : k);
  const oKeys = o.items.map((p) => keyOf(p.key));
  const nKeys = n.items.map((p) => keyOf(p.key));
  const added = n.items.filter((p) => !oKeys.includes(keyOf(p.key)));
  const removed = o.items.filter((p) => !nKeys.includes(keyOf(p.key)));
  // In a flow mapping, removals are left to the whole-collection rewrite; additions go before the "}".
  if (inFlow && removed.length > 0) return null;
  const edits: Edit[] = [];
  if (inFlow && added.length > 0) {
    const lastEnd = (o.items.at(-1)?.value as Node | null)?.range?.[1];
    if (lastEnd === undefined) return null;
    const block = new YAMLMap();
    block.items.push(...added);
    const one = flowText(block, false);
    if (one.includes('\n')) return null;
    edits.push({ start: lastEnd, end: lastEnd, text: `, ${one.slice(1, -1)}` });
    added.length = 0;
  }
  for (const p of n.items) {
    const old = o.items.find((q) => keyOf(q.key) === keyOf(p.key));
    if (!old) continue;
    if (!old.value || !p.value) return null;
    const inner = spliceNode(text, old.value as Node, p.value as Node, inFlow);
    if (inner === null) return null;
    edits.push(...inner);
  }
  for (const p of removed) {
    const keyRange = (p.key as Node | null)?.range;
    const end = (p.value as Node | null)?.range?.[1] ?? keyRange?.[1];
    if (!keyRange || end === undefined) return null;
    edits.push({ start: lineStart(text, keyRange[0]), end: pastLine(text, end), text: '' });
  }
  if (added.length > 0) {
    const first = (o.items[0]?.key as Node | null)?.range;
    const last = o.items.at(-1);
    const lastEnd = (last?.value as Node | null)?.range?.[1] ?? (last?.key as Node | null)?.range?.[1];
    if (!first || lastEnd === undefined) return null;
    const col = first[0] - lineStart(text, first[0]);
    const block = new YAMLMap();
    block.items.push(...added);
    const at = pastLine(text, lastEnd);
    edits.push({ start: at, end: at, text: (at === text.length && !text.endsWith('\n') ? '\n' : '') + indentLines(new Document(block).toString({ lineWidth: 0 }), col) });
  }
  return edits;
}

function seqEdits(text: string, o: YAMLSeq, n: YAMLSeq): Edit[] | null {
  const origin = (item: unknown): number => {
    const r = (item as Node | null)?.range;
    return r ? o.items.findIndex((x) => (x as Node | null)?.range?.[0] === r[0]) : -1;
  };
  const matched = n.items.map(origin);
  // Kept items must keep their order, and new ones may only follow them.
  const kept = matched.filter((i) => i >= 0);
  if (kept.some((v, i) => i > 0 && v <= (kept[i - 1] ?? -1))) return null;
  const firstNew = matched.indexOf(-1);
  if (firstNew >= 0 && matched.slice(firstNew).some((i) => i >= 0)) return null;
  const edits: Edit[] = [];
  for (const [i, item] of n.items.entries()) {
    const from = matched[i] ?? -1;
    if (from < 0) continue;
    const inner = spliceNode(text, o.items[from] as Node, item as Node, false);
    if (inner === null) return null;
    edits.push(...inner);
  }
  for (const [i, item] of o.items.entries()) {
    if (kept.includes(i)) continue;
    const r = (item as Node | null)?.range;
    if (!r) return null;
    edits.push({ start: lineStart(text, r[0]), end: pastLine(text, r[1]), text: '' });
  }
  const added = n.items.filter((_, i) => matched[i] === -1);
  if (added.length > 0) {
    const firstItem = (o.items[0] as Node | null)?.range;
    const lastItem = (o.items.at(-1) as Node | null)?.range;
    if (!firstItem || !lastItem) return null;
    // The dash's column: the item's own text starts after "- ".
    const dash = text.lastIndexOf('-', firstItem[0] - 1);
    if (dash < lineStart(text, firstItem[0])) return null;
    const block = new YAMLSeq();
    block.items.push(...added);
    const at = pastLine(text, lastItem[1]);
    edits.push({ start: at, end: at, text: (at === text.length && !text.endsWith('\n') ? '\n' : '') + indentLines(new Document(block).toString({ lineWidth: 0 }), dash - lineStart(text, dash)) });
  }
  return edits;
}
