import { asArray, asRecord, type ConfigView } from './view.js';

/**
 * Cross-field checks that a schema of independent fields cannot express. Names that others refer
 * to (stream ids, model names, rule ids) are taken from the raw file, so a stream with a schema
 * error elsewhere still counts as existing; references are checked from elements that are valid.
 */
export function referenceProblems(raw: unknown, view: ConfigView): string[] {
  const obj = asRecord(raw);
  const problems: string[] = [];
  const names = (list: unknown, key: string): (string | undefined)[] =>
    asArray(list).map((v) => {
      const name = asRecord(v)[key];
      return typeof name === 'string' ? name : undefined;
    });
  const dup = (what: string, ids: (string | undefined)[], message: (v: string) => string): Set<string> => {
    const seen = new Set<string>();
    ids.forEach((v, i) => {
      if (v === undefined) return;
      if (seen.has(v)) problems.push(`${what}[${i}]${message(v)}`);
      seen.add(v);
    });
    return seen;
  };
  const streams = dup('streams', names(obj['streams'], 'id'), (v) => `.id: duplicate id "${v}"`);
  const rules = dup('rules', names(obj['rules'], 'id'), (v) => `.id: duplicate id "${v}"`);
  const models = dup('models', names(obj['models'], 'name'), (v) => `.name: duplicate model "${v}"`);

  view.streams.forEach((s, i) => {
    if (!s) return;
    if (s.model !== undefined && !models.has(s.model)) {
      problems.push(`streams[${i}].model: unknown model "${s.model}" (configured: ${[...models].join(', ') || 'none'})`);
    }
    if (s.restart_max_ms < s.restart_min_ms) problems.push(`streams[${i}].restart_max_ms: must be >= restart_min_ms`);
    if (s.tracker.appearance.enabled && view.learning !== undefined && view.learning.embedding_model === undefined) {
      problems.push(`streams[${i}].tracker.appearance.enabled: the appearance cue needs learning.embedding_model (the OSNet x0.25 ONNX file)`);
    }
  });
  view.rules.forEach((r, i) => {
    if (r && !streams.has(r.stream)) problems.push(`rules[${i}].stream: unknown stream "${r.stream}"`);
  });
  view.actionRules.forEach((a, i) => a?.rules?.forEach((id, j) => {
    if (!rules.has(id)) problems.push(`actions.on[${i}].rules[${j}]: unknown rule "${id}"`);
  }));
  return problems;
}
