import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Document, isMap, isScalar, isSeq, parseDocument, YAMLSeq } from 'yaml';
import { buildRule, type EndReason } from '../analytics/rules/index.js';
import { parseConfigText, resolveConfigPaths, validateConfig, type PathOverrides } from '../config/load.js';
import { oneLine } from '../config/one-line.js';
import { preflightProblems } from '../config/preflight.js';
import type { Config, RuleConfig, StreamConfig } from '../config/schema.js';
import { viewOfConfig } from '../config/view.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { StreamStatus } from '../video/frame.js';
import { writeFileAtomic } from './atomic-write.js';
import { renderEdited } from './yaml-splice.js';
import { getAt, parsePath, resolvePath, type Segment } from './config-path.js';
import { diffConfigs, redactConfig, type ConfigDifference } from './config-view.js';
import type { LogRing } from './log-ring.js';

/** What live management needs of the running daemon (App implements it): streams and rules only. */
export interface LiveTarget {
  runningConfig(): Config;
  /** Makes `streams` and `rules` the running config's; other sections stay as started. */
  adopt(streams: StreamConfig[], rules: RuleConfig[]): void;
  /** Starts a stream of the running config (after `adopt`), loading its model if need be. */
  startConfiguredStream(id: string): Promise<void>;
  /** Stops a running stream, ends its open activities with `reason` and frees its pipeline; false if it was not running. */
  stopStream(id: string, reason: EndReason): Promise<boolean>;
  /** Hands a running stream's analyzer its rules from the running config, between two frames. */
  refreshRules(streamId: string): void;
  streamStatus(id: string): StreamStatus | null;
}

export interface LiveManagerOptions {
  target: LiveTarget;
  /** The file the daemon was started with; null when it runs without one (the demo). */
  file: string | null;
  overrides: PathOverrides;
  log: Logger;
  logRing?: LogRing | undefined;
}

/** The reply to every change. */
export interface ChangeResult {
  /** What differs between the running config before and after, path by path. */
  changed: string[];
  /** What was done to the running daemon, in words. */
  applied: string[];
  /** Settings saved but not in effect until the next start of vigild (this change's and earlier ones'). */
  restart_required: string[];
  persisted: boolean;
  file: string | null;
  note?: string;
}

type Changes = Record<string, unknown>;

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Changes to streams, rules and settings while the daemon runs. Each change is made on a copy of
 * the config file's YAML document (so comments and layout the operator wrote survive), validated
 * exactly as a file at start is (schema and cross-references), written atomically, and only then
 * applied: a change that fails any step leaves the file and the running daemon as they were.
 * Changes are serialised; one is finished before the next is looked at.
 */
export class LiveManager {
  private doc: Document | null = null;
  /** The file's text as last loaded or written: a different text on disk means a hand edit. */
  private text: string | null = null;
  /** The config the file holds (equal to the running one but for settings awaiting a restart). */
  private saved: Config | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly opts: LiveManagerOptions) {
    this.log = opts.log.child({ component: 'manage' });
  }

  /** Reads the file the daemon started with; without one, changes are made on the running config in memory. */
  async start(): Promise<void> {
    if (this.opts.file === null) {
      this.doc = new Document(this.opts.target.runningConfig());
      this.saved = this.opts.target.runningConfig();
      return;
    }
    this.text = await readFile(this.opts.file, 'utf8');
    this.doc = parseDocument(this.text);
    this.saved = resolveConfigPaths(parseConfigText(this.text, this.opts.file, this.opts.overrides), this.opts.file);
  }

  // ---- reads -------------------------------------------------------------------------------

  listStreams(): unknown {
    const cfg = this.opts.target.runningConfig();
    return cfg.streams.map((s) => {
      const st = this.opts.target.streamStatus(s.id);
      return {
        id: s.id, uri: redactConfig(s.uri, ['uri']), model: s.model ?? null, fps: s.fps, enabled: s.enabled,
        state: st?.state ?? (s.enabled ? 'stopped' : 'disabled'), framesPulled: st?.framesPulled ?? 0,
        rules: cfg.rules.filter((r) => r.stream === s.id).map((r) => r.id),
      };
    });
  }

  listRules(stream: string | undefined): RuleConfig[] {
    return this.opts.target.runningConfig().rules.filter((r) => stream === undefined || r.stream === stream);
  }

  getConfig(pathText: string | undefined): { path: string; value: unknown } {
    const running = this.opts.target.runningConfig();
    const at = resolvePath(running, parsePath(pathText ?? ''));
    return { path: pathText ?? '', value: redactConfig(getAt(running, at), at) };
  }

  /** A candidate config (file text or object) checked as a file at start would be; nothing applied. */
  validateCandidate(candidate: { text?: string | undefined; config?: Changes | undefined }): unknown {
    try {
      const cfg = this.parseCandidate(candidate);
      return { valid: true, streams: cfg.streams.length, rules: cfg.rules.length, differences: this.differences(cfg) };
    } catch (err) {
      if (err instanceof ConfigError) return { valid: false, problems: err.problems };
      throw err;
    }
  }

  /** Running config against the file on disk now, or against a candidate. */
  async diff(candidate: { text?: string | undefined; config?: Changes | undefined }): Promise<unknown> {
    if (candidate.text !== undefined || candidate.config !== undefined) {
      return { against: 'candidate', differences: this.differences(this.parseCandidate(candidate)) };
    }
    if (this.opts.file === null) return { against: 'file', file: null, differences: [], note: 'vigild runs without a config file' };
    const text = await readFile(this.opts.file, 'utf8');
    const cfg = resolveConfigPaths(parseConfigText(text, this.opts.file, this.opts.overrides), this.opts.file);
    return { against: 'file', file: this.opts.file, differences: this.differences(cfg) };
  }

  tailLogs(query: { after?: number | undefined; limit: number; level?: string | undefined }): unknown {
    if (!this.opts.logRing) throw new Error('this daemon keeps no log lines (started without a log ring)');
    return this.opts.logRing.tail(query);
  }

  // ---- changes -----------------------------------------------------------------------------

  addStream(spec: Changes): Promise<ChangeResult> {
    return this.change(`add stream ${String(spec['id'])}`, (doc) => {
      seqAt(doc, 'streams').add(doc.createNode(spec));
    });
  }

  removeStream(id: string, withRules: boolean): Promise<ChangeResult> {
    return this.change(`remove stream ${id}`, (doc, plain) => {
      const at = resolvePath(plain, ['streams', id]);
      const fileRules = Array.isArray(plain['rules']) ? plain['rules'] : [];
      const dependent = fileRules.map((r, i) => [r, i] as const).filter(([r]) => isRecord(r) && r['stream'] === id);
      if (dependent.length > 0 && !withRules) {
        throw new Error(`stream "${id}" has rules (${dependent.map(([r]) => String((r as Changes)['id'])).join(', ')}): remove them first, or remove the stream with its rules`);
      }
      for (const [, i] of dependent.reverse()) doc.deleteIn(['rules', i]);
      doc.deleteIn(at);
    });
  }

  setStreamEnabled(id: string, enabled: boolean): Promise<ChangeResult> {
    return this.change(`${enabled ? 'enable' : 'disable'} stream ${id}`, (doc, plain) => {
      doc.setIn([...resolvePath(plain, ['streams', id]), 'enabled'], enabled);
    });
  }

  setStream(id: string, changes: Changes): Promise<ChangeResult> {
    return this.change(`set stream ${id}`, (doc, plain) => {
      if ('id' in changes && changes['id'] !== id) throw new Error('a stream keeps its id: remove it and add it under the new one');
      applyChanges(doc, resolvePath(plain, ['streams', id]), changes);
    });
  }

  addRule(spec: Changes): Promise<ChangeResult> {
    return this.change(`add rule ${String(spec['id'])}`, (doc) => {
      seqAt(doc, 'rules').add(doc.createNode(spec));
    });
  }

  removeRule(id: string): Promise<ChangeResult> {
    return this.change(`remove rule ${id}`, (doc, plain) => {
      doc.deleteIn(resolvePath(plain, ['rules', id]));
    });
  }

  setRule(id: string, changes: Changes): Promise<ChangeResult> {
    return this.change(`set rule ${id}`, (doc, plain) => {
      if ('id' in changes && changes['id'] !== id) throw new Error('a rule keeps its id: remove it and add it under the new one');
      applyChanges(doc, resolvePath(plain, ['rules', id]), changes);
    });
  }

  /** `value` null removes the key, so the setting goes back to its default. */
  setConfig(pathText: string, value: unknown): Promise<ChangeResult> {
    return this.change(`set ${pathText}`, (doc, plain) => {
      const at = resolvePath(plain, parsePath(pathText), true);
      if (at.length === 0) throw new Error('config.set needs a path below the root; to replace the whole file, edit it and restart');
      if (value === null) doc.deleteIn(at);
      else doc.setIn(at, doc.createNode(value));
    });
  }

  private change(what: string, edit: (doc: Document, plain: Changes) => void): Promise<ChangeResult> {
    return this.serially(() => this.changeNow(what, edit));
  }

  /** One change at a time: each starts from what the one before left. */
  private serially(fn: () => Promise<ChangeResult>): Promise<ChangeResult> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async changeNow(what: string, edit: (doc: Document, plain: Changes) => void): Promise<ChangeResult> {
    const current = this.doc;
    if (current === null || this.saved === null) throw new Error('live management has not started');
    const file = this.opts.file;
    if (file !== null) {
      const onDisk = await readFile(file, 'utf8').catch((err: unknown) => { throw new Error(`cannot read ${file}: ${errorMessage(err)}`); });
      if (onDisk !== this.text) {
        throw new Error(`${file} was edited since vigild loaded it; restart vigild to load it (vigilctl config diff shows what differs) before changing the config live`);
      }
    }
    const doc = current.clone();
    const plain = doc.toJS() as unknown;
    edit(doc, isRecord(plain) ? plain : {});
    // Only what changed is rewritten in the file's text: the operator's layout survives the edit.
    const text = file !== null && this.text !== null ? renderEdited(this.text, current, doc) : String(doc);
    // Validated from the text about to be written: what is persisted is exactly what was checked.
    const candidate = file !== null
      ? resolveConfigPaths(parseConfigText(text, file, this.opts.overrides), file)
      : validateConfig(doc.toJS(), '(running config)', this.opts.overrides);
    return this.commit(what, candidate, file !== null ? { text, write: true } : { doc });
  }

  /**
   * SIGHUP (`systemctl reload vigild`): the config file as it is on disk now becomes the running
   * config where that can happen live (streams and rules, as a live change would apply them); what
   * needs a restart is saved and named in `restart_required`. The file is checked exactly as at a
   * start; one that fails leaves the daemon running as it was.
   */
  reload(): Promise<ChangeResult> {
    return this.serially(() => this.reloadNow());
  }

  private async reloadNow(): Promise<ChangeResult> {
    const file = this.opts.file;
    if (file === null) throw new Error('vigild runs without a config file: there is nothing to reload');
    if (this.saved === null) throw new Error('live management has not started');
    const text = await readFile(file, 'utf8').catch((err: unknown) => { throw new Error(`cannot read ${file}: ${errorMessage(err)}`); });
    const candidate = resolveConfigPaths(parseConfigText(text, file, this.opts.overrides), file);
    return this.commit('reload', candidate, { text, write: false });
  }

  /**
   * The steps every change shares once the candidate config exists: the start's checks, the plan,
   * the write (a live edit) or adoption of the file's text (a reload), then applying the plan.
   */
  private async commit(what: string, candidate: Config, source: { text: string; write: boolean } | { doc: Document }): Promise<ChangeResult> {
    const saved = this.saved;
    if (saved === null) throw new Error('live management has not started');
    const file = this.opts.file;
    // What the start checks beyond the schema (files, socket length, classes against the model's
    // labels): a change saved without it could leave a file the daemon refuses at its next start,
    // and exit 2 keeps systemd from trying again.
    const problems = await preflightProblems(viewOfConfig(candidate), file !== null ? path.dirname(path.resolve(file)) : process.cwd());
    if (problems.length > 0) throw new ConfigError(problems.map(oneLine), file ?? '(running config)');
    const running = this.opts.target.runningConfig();
    const plan = planChange(running, candidate);
    // Rules are built before anything is written, so one that cannot be built fails the change here.
    for (const rule of candidate.rules) if (!running.rules.some((r) => same(r, rule))) buildRule(rule);

    if ('text' in source) {
      if (source.write && file !== null) {
        await writeFileAtomic(file, source.text).catch((err: unknown) => {
          throw new Error(`cannot write ${file}, nothing was changed: ${errorMessage(err)}`);
        });
      }
      this.text = source.text;
      // Parsed again from the file's text, so that the next edit's offsets are those of the file.
      this.doc = parseDocument(source.text);
    } else {
      this.doc = source.doc;
    }
    this.saved = candidate;
    // Every failure that can be foreseen was caught above; starting and stopping streams report
    // their own failures through status. Should applying still throw, the file is already saved.
    const applied = await this.apply(candidate, plan).catch((err: unknown) => {
      this.log.error({ change: what, err: errorMessage(err) }, 'config saved but not fully applied');
      throw new Error(`saved to ${file ?? 'memory'} but not fully applied (${errorMessage(err)}): vigilctl restart applies it`);
    });
    const result: ChangeResult = {
      changed: diffConfigs(saved, candidate).map((d) => d.path), applied, restart_required: plan.restartRequired,
      persisted: file !== null, file,
      ...(file === null ? { note: 'vigild runs without a config file: the change holds until it stops' } : {}),
    };
    this.log.info({ change: what, ...result }, 'config changed');
    return result;
  }

  private async apply(candidate: Config, plan: Plan): Promise<string[]> {
    const { target } = this.opts;
    const applied: string[] = [];
    target.adopt(candidate.streams, candidate.rules);
    for (const [id, reason] of plan.stop) {
      const stopped = await target.stopStream(id, reason);
      if (stopped && !plan.start.includes(id)) applied.push(`stream ${id} ${reason === 'stream_removed' ? 'removed' : 'stopped'}`);
    }
    for (const id of plan.start) {
      await target.startConfiguredStream(id);
      applied.push(`stream ${id} ${plan.stop.has(id) ? 'restarted' : 'started'}`);
    }
    for (const id of plan.rules) {
      target.refreshRules(id);
      applied.push(`rules of stream ${id} replaced between two frames`);
    }
    return applied;
  }

  private parseCandidate(candidate: { text?: string | undefined; config?: Changes | undefined }): Config {
    const source = 'candidate';
    if (candidate.text !== undefined) {
      const cfg = parseConfigText(candidate.text, source, this.opts.overrides);
      return this.opts.file !== null ? resolveConfigPaths(cfg, this.opts.file) : cfg;
    }
    const cfg = validateConfig(structuredClone(candidate.config ?? {}), source, this.opts.overrides);
    return this.opts.file !== null ? resolveConfigPaths(cfg, this.opts.file) : cfg;
  }

  private differences(other: Config): ConfigDifference[] {
    return diffConfigs(redactConfig(this.opts.target.runningConfig()), redactConfig(other));
  }
}

interface Plan {
  /** Streams to stop, with the reason their open activities end. */
  stop: Map<string, EndReason>;
  start: string[];
  /** Running streams that keep running and get new rules. */
  rules: string[];
  restartRequired: string[];
}

/** What must happen to the running daemon to go from `running` to `next`. */
function planChange(running: Config, next: Config): Plan {
  const before = new Map(running.streams.map((s) => [s.id, s]));
  const after = new Map(next.streams.map((s) => [s.id, s]));
  const stop = new Map<string, EndReason>();
  const start: string[] = [];
  for (const [id, s] of before) {
    const n = after.get(id);
    if (!s.enabled) continue;
    if (!n) stop.set(id, 'stream_removed');
    else if (!n.enabled) stop.set(id, 'stream_disabled');
    else if (!same(s, n)) stop.set(id, 'stream_changed');
  }
  for (const [id, n] of after) {
    const s = before.get(id);
    if (n.enabled && (!s || !s.enabled || !same(s, n))) start.push(id);
  }
  const rulesOf = (cfg: Config, id: string): RuleConfig[] => cfg.rules.filter((r) => r.stream === id);
  const rules = [...after.keys()].filter((id) => after.get(id)?.enabled && before.get(id)?.enabled && !start.includes(id)
    && !same(rulesOf(running, id), rulesOf(next, id)));
  const rest = (cfg: Config): Changes => Object.fromEntries(Object.entries(cfg).filter(([k]) => k !== 'streams' && k !== 'rules'));
  const restartRequired = diffConfigs(rest(running), rest(next)).map((d) => d.path);
  return { stop, start, rules, restartRequired };
}

/** The sequence at top-level `key`, created when the file has none. */
function seqAt(doc: Document, key: string): YAMLSeq {
  const node = doc.get(key, true);
  if (isSeq(node)) return node;
  if (node !== undefined && !(isScalar(node) && node.value === null)) throw new Error(`${key}: is not a list in the config file`);
  const seq = new YAMLSeq();
  doc.set(key, seq);
  return seq;
}

/**
 * Merge into one list item: each key set (`tracker.high_score` reaches into a nested setting), null
 * removes it (back to its default).
 */
function applyChanges(doc: Document, at: Segment[], changes: Changes): void {
  const item = doc.getIn(at, true);
  if (!isMap(item)) throw new Error('the item in the config file is not a mapping');
  for (const [key, value] of Object.entries(changes)) {
    const keyPath = parsePath(key);
    if (value === null) item.deleteIn(keyPath);
    else item.setIn(keyPath, doc.createNode(value));
  }
}
