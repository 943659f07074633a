/**
 * Paths into the config as operators write them: `mqtt.url`, `streams.gate.fps` (a list item by
 * its id, or a model by its name), `streams[0].fps` or `streams.0.fps` (by position).
 */
export type Segment = string | number;

export class PathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PathError';
  }
}

export function parsePath(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === '.') return [];
  const parts = trimmed.replace(/\[(\w[\w.-]*)\]/g, '.$1').split('.');
  if (parts.some((p) => p === '')) throw new PathError(`bad config path "${text}": empty segment`);
  return parts;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function itemKey(item: unknown): string | undefined {
  if (!isRecord(item)) return undefined;
  const key = item['id'] ?? item['name'];
  return typeof key === 'string' ? key : undefined;
}

/**
 * Turns operator segments into concrete keys and indices against `root` (plain data). With
 * `forWrite`, object keys that do not exist yet are allowed (a setting left to its default);
 * list items must always exist.
 */
export function resolvePath(root: unknown, segments: readonly string[], forWrite = false): Segment[] {
  const out: Segment[] = [];
  let node: unknown = root;
  segments.forEach((seg) => {
    const where = out.length === 0 ? '(root)' : out.map(String).join('.');
    if (Array.isArray(node)) {
      // An id wins over a position: ids may be digits too.
      const byKey = node.findIndex((item) => itemKey(item) === seg);
      const index = byKey >= 0 ? byKey : /^\d+$/.test(seg) ? Number(seg) : -1;
      if (index < 0 || index >= node.length) {
        const known = node.map(itemKey).filter((k) => k !== undefined);
        throw new PathError(`${where}: no item "${seg}"${known.length > 0 ? ` (there are: ${known.join(', ')})` : ''}`);
      }
      out.push(index);
      node = node[index];
      return;
    }
    // Writing below a key the file leaves to its default creates the missing objects on the way.
    if (forWrite && node === undefined && out.length > 0 && !/^\d+$/.test(seg)) {
      out.push(seg);
      return;
    }
    if (isRecord(node)) {
      if (!(seg in node) && !forWrite) {
        throw new PathError(`${where}: no key "${seg}" (there are: ${Object.keys(node).join(', ') || 'none'})`);
      }
      out.push(seg);
      node = node[seg];
      return;
    }
    throw new PathError(`${where}: is a ${node === null ? 'null' : typeof node}, it has no "${seg}"`);
  });
  return out;
}

export function getAt(root: unknown, path: readonly Segment[]): unknown {
  let node = root;
  for (const seg of path) {
    if (Array.isArray(node) && typeof seg === 'number') node = node[seg];
    else if (isRecord(node) && typeof seg === 'string') node = node[seg];
    else return undefined;
  }
  return node;
}

export const formatPath = (path: readonly Segment[]): string =>
  path.reduce<string>((acc, k) => typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${k}` : k, '') || '(root)';
