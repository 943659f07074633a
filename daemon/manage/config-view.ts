import { redactUri } from '../util/redact.js';
import { formatPath, itemKey, type Segment } from './config-path.js';

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The config as it may leave the device (a reply, possibly relayed through the hub): the broker
 * password hidden and credentials stripped from stream URIs, as in the journal.
 */
export function redactConfig(value: unknown, path: readonly Segment[] = []): unknown {
  const key = path[path.length - 1];
  if (typeof value === 'string') {
    if (key === 'password') return '[redacted]';
    if (key === 'uri') return redactUri(value);
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => redactConfig(v, [...path, i]));
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, [...path, k])]));
  return value;
}

export interface ConfigDifference {
  path: string;
  /** Absent: the key or item does not exist on that side. */
  running?: unknown;
  other?: unknown;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Leaf-level differences between two configs (both already parsed, so defaults are filled in on
 * both sides and only real differences show). Lists of items with ids are matched by id, so that
 * removing one stream reads as one removal, not as every later stream changing.
 */
export function diffConfigs(running: unknown, other: unknown, path: Segment[] = []): ConfigDifference[] {
  if (same(running, other)) return [];
  if (isRecord(running) && isRecord(other)) {
    const keys = [...new Set([...Object.keys(running), ...Object.keys(other)])];
    return keys.flatMap((k) => {
      if (!(k in other)) return [{ path: formatPath([...path, k]), running: running[k] }];
      if (!(k in running)) return [{ path: formatPath([...path, k]), other: other[k] }];
      return diffConfigs(running[k], other[k], [...path, k]);
    });
  }
  if (Array.isArray(running) && Array.isArray(other)) {
    const keyed = [...(running as unknown[]), ...(other as unknown[])].every((item) => itemKey(item) !== undefined);
    if (keyed) {
      const byKey = (list: unknown[]): Map<string, unknown> => new Map(list.map((item) => [itemKey(item) ?? '', item]));
      const a = byKey(running);
      const b = byKey(other);
      const keys = [...new Set([...a.keys(), ...b.keys()])];
      return keys.flatMap((k) => {
        const where = `${formatPath(path)}.${k}`;
        if (!b.has(k)) return [{ path: where, running: a.get(k) }];
        if (!a.has(k)) return [{ path: where, other: b.get(k) }];
        return diffConfigs(a.get(k), b.get(k), [...path, k]);
      });
    }
  }
  return [{ path: formatPath(path), running, other }];
}
