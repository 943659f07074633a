import { actionRuleSchema, configSchema, modelRefSchema, ruleSchema, streamSchema, type ActionRule, type Config, type ModelRef,
  type RuleConfig, type StreamConfig } from './schema.js';

/**
 * The parts of a config that are valid on their own, even when the whole is not: each section, and
 * each element of the lists, parsed by its own schema. The cross-reference and file checks run on
 * this view, so that a config with a schema error elsewhere still gets every other problem reported
 * in the same pass (a technician should not fix a config in instalments). An element that is invalid
 * is `undefined` at its index, so problems keep the index the file has.
 */
export interface ConfigView {
  mqtt?: Config['mqtt'];
  storage?: Config['storage'];
  control?: Config['control'];
  models_dir?: string | undefined;
  model_store?: Config['model_store'];
  learning?: Config['learning'];
  actions?: Config['actions'];
  inference?: Config['inference'];
  models: readonly (ModelRef | undefined)[];
  streams: readonly (StreamConfig | undefined)[];
  rules: readonly (RuleConfig | undefined)[];
  /** `actions.on`, element by element (the section's own refinements aside). */
  actionRules: readonly (ActionRule | undefined)[];
}

export const asRecord = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {};
export const asArray = (v: unknown): readonly unknown[] => Array.isArray(v) ? v : [];

/** The view of a config that passed the schema as a whole: everything. */
export function viewOfConfig(cfg: Config): ConfigView {
  return { ...cfg, actionRules: cfg.actions.on };
}

type Sections = Omit<ConfigView, 'models' | 'streams' | 'rules' | 'actionRules'>;
const SECTIONS = ['mqtt', 'storage', 'control', 'models_dir', 'model_store', 'learning', 'actions', 'inference'] as const satisfies readonly (keyof Sections)[];

/** The view of a config that failed the schema somewhere: every section and element that is valid alone. */
export function viewOfRaw(raw: unknown): ConfigView {
  const obj = asRecord(raw);
  const each = <T>(list: unknown, parse: (v: unknown) => { success: boolean; data?: T }): (T | undefined)[] =>
    asArray(list).map((v) => {
      const r = parse(v);
      return r.success ? r.data : undefined;
    });
  const view: ConfigView = {
    models: each(obj['models'], (v) => modelRefSchema.safeParse(v)),
    streams: each(obj['streams'], (v) => streamSchema.safeParse(v)),
    rules: each(obj['rules'], (v) => ruleSchema.safeParse(v)),
    actionRules: each(asRecord(obj['actions'])['on'], (v) => actionRuleSchema.safeParse(v)),
  };
  // Each section is stored under its own key, with the type its own schema gives it.
  const sections = view as unknown as Record<string, unknown>;
  for (const key of SECTIONS) {
    const r = configSchema.shape[key].safeParse(obj[key]);
    if (r.success) sections[key] = r.data;
  }
  return view;
}
