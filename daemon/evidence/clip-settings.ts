import type { ClipOverride, EvidenceConfig, RuleConfig, StreamConfig } from '../config/schema.js';

/** One rule's clip lengths, in ms, after `evidence.clips`, its stream's and its own overrides. */
export interface ClipSettings {
  preRollMs: number;
  postRollMs: number;
  maxMs: number;
}

/** The override's lengths that are set (an absent one must not overwrite the default with undefined). */
function lengths(o: ClipOverride | undefined): Partial<Record<'pre_roll_s' | 'post_roll_s' | 'max_s', number>> {
  if (o === undefined || o === false) return {};
  const out: Partial<Record<'pre_roll_s' | 'post_roll_s' | 'max_s', number>> = {};
  if (o.pre_roll_s !== undefined) out.pre_roll_s = o.pre_roll_s;
  if (o.post_roll_s !== undefined) out.post_roll_s = o.post_roll_s;
  if (o.max_s !== undefined) out.max_s = o.max_s;
  return out;
}

/** The rule's clip settings, or null when its events get no clip (off anywhere, or not its severity). */
export function clipSettingsFor(evidence: EvidenceConfig, stream: StreamConfig | undefined, rule: RuleConfig): ClipSettings | null {
  const clips = evidence.clips;
  if (!evidence.enabled || !clips.enabled || stream?.clips === false || rule.clips === false) return null;
  if (!(clips.severities ?? evidence.severities).includes(rule.severity)) return null;
  const merged = { pre_roll_s: clips.pre_roll_s, post_roll_s: clips.post_roll_s, max_s: clips.max_s, ...lengths(stream?.clips), ...lengths(rule.clips) };
  return { preRollMs: merged.pre_roll_s * 1000, postRollMs: merged.post_roll_s * 1000, maxMs: merged.max_s * 1000 };
}

/** What a stream's ring must hold: the longest pre-roll of its rules with clips; null when none has clips. */
export function ringKeepMs(evidence: EvidenceConfig, stream: StreamConfig, rules: readonly RuleConfig[]): number | null {
  let keep: number | null = null;
  for (const rule of rules) {
    if (rule.stream !== stream.id) continue;
    const s = clipSettingsFor(evidence, stream, rule);
    if (s) keep = Math.max(keep ?? 0, s.preRollMs);
  }
  return keep;
}
