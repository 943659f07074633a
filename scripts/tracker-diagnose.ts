/**
 * Where the tracker's false positives and identity switches come from (issue 26): runs Vigil's
 * tracker over MOTChallenge sequence folders the way `vigilctl bench mot --seq` does, tags every
 * output box with how it came about, and measures each tag by scoring the output again with the
 * project's evaluator (`evaluateMot`) without those boxes, or with the detection's box in place of
 * the filter's. No scoring is re-implemented here: every figure is a difference of two evaluations.
 *
 *   node dist/scripts/tracker-diagnose.js [--seq DIR ...] [--tracker JSON] [--variant NAME=JSON ...]
 *     [--only-variants] [--every N] [--ref NAME=DIR ...] [--json FILE]
 *
 * Tags (a box may carry several):
 *   low        matched a detection below `high_score` (the second stage)
 *   start      its track was confirmed in the first frame (`confirm_at_start`)
 *   first2     one of its track's first two output frames (SORT's `min_hits` 3 would not output them)
 *   refound    its track was lost in the previous frame (a re-find), and `refound+` the frames
 *              after a re-find until the track is lost again
 *   longgap    a re-find after more than 0.5 s lost
 *   young-refound  a re-find of a track seen in 4 frames or fewer before it was lost, and
 *              `young-refound+` every box of such a track from that re-find on
 *   short      its track is output in 5 frames or fewer in all
 *   dup        overlaps (IoU ≥ 0.5) the box of an older track in the same frame
 * A removed tag's ΔFP is the number of its boxes that were false positives (less any that the
 * removal let another box take over), ΔFN the true positives it held.
 *
 * Variants (`--variant`, plus built-in ones) rerun the tracker with other settings and report their
 * figures next to the defaults', for behaviour that cannot be tagged on a box (identity switches).
 * `--ref sort=DIR` scores DIR/<sequence>/sort.txt (another tracker's output) for comparison.
 * `--every N` feeds and scores every Nth frame only, at a Nth of the sequence's rate.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Detection } from '../daemon/inference/types.js';
import { evaluateMot, type MotMetrics } from '../daemon/analytics/mot/evaluate.js';
import { byFrame, loadMotFile, type MotRow } from '../daemon/analytics/mot/format.js';
import type { MotSequence } from '../daemon/analytics/mot/sequence.js';
import { scoreSequence } from '../daemon/analytics/mot/score-sequence.js';
import { trackerConfigSchema, type TrackerConfigInput } from '../daemon/analytics/tracker/config.js';
import { iou } from '../daemon/analytics/tracker/iou.js';
import { Tracker } from '../daemon/analytics/tracker/tracker.js';
import type { Box } from '../daemon/inference/types.js';
import { motSequences } from './mot-fixtures.js';

const TAGS = ['low', 'start', 'first2', 'refound', 'refound+', 'longgap', 'young-refound', 'young-refound+', 'short', 'dup'] as const;
type Tag = (typeof TAGS)[number];

interface TaggedRow { row: MotRow; tags: Set<Tag>; det: Box | null }

const { values } = parseArgs({
  options: {
    seq: { type: 'string', multiple: true },
    tracker: { type: 'string', default: '{}' },
    variant: { type: 'string', multiple: true },
    ref: { type: 'string', multiple: true },
    json: { type: 'string' },
    'only-variants': { type: 'boolean', default: false },
    every: { type: 'string', default: '1' },
  },
});

const base = JSON.parse(values.tracker) as TrackerConfigInput;
const config = trackerConfigSchema.parse(base);

/** Behaviour switched one at a time from `--tracker`, for what cannot be tagged on a box. */
const BUILTIN: Record<string, TrackerConfigInput> = {
  'max_lost one frame (SORT)': { max_lost_ms: 1 },
  'low stage off': { low_score: config.high_score },
  'confirm_at_start off': { confirm_at_start: false },
  'min_hits 3': { min_hits: 3 },
  'momentum 0': { momentum_weight: 0 },
};

function variants(): [string, TrackerConfigInput][] {
  const out: [string, TrackerConfigInput][] = values['only-variants'] ? [] : Object.entries(BUILTIN);
  for (const v of values.variant ?? []) {
    const eq = v.indexOf('=');
    if (eq < 1) throw new Error(`--variant wants NAME=JSON, got "${v}"`);
    out.push([v.slice(0, eq), JSON.parse(v.slice(eq + 1)) as TrackerConfigInput]);
  }
  return out.map(([name, over]) => [name, { ...base, ...over }]);
}

/**
 * Every `n`th frame of a sequence, ground truth and detections alike, renumbered, at a `n`th of the
 * rate: what a stream analysing at a lower rate than its camera's sees and is scored on.
 */
function thinned(seq: MotSequence, n: number): MotSequence {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--every must be a whole number ≥ 1, got ${values.every}`);
  if (n === 1) return seq;
  const keep = (rows: readonly MotRow[]): MotRow[] => rows.filter((r) => (r.frame - 1) % n === 0).map((r) => ({ ...r, frame: (r.frame - 1) / n + 1 }));
  return { ...seq, gt: keep(seq.gt), det: keep(seq.det), fps: seq.fps / n, frames: Math.floor((seq.frames - 1) / n) + 1 };
}

/** The tracker fed as `runTracker` feeds it, keeping what each output box came from. */
function tagged(seq: MotSequence): TaggedRow[] {
  const tracker = new Tracker(base);
  const frames = byFrame(seq.det);
  const rows: TaggedRow[] = [];
  const lostAt = new Map<number, number>();
  const refoundStretch = new Set<number>();
  const outputs = new Map<number, number>();
  const wasLost = new Set<number>();
  const youngRefound = new Set<number>();
  for (let f = 1; f <= seq.frames; f++) {
    const dets: Detection[] = (frames.get(f) ?? []).map((r) => ({ classId: 0, label: 'person', score: r.conf, box: [...r.box] }));
    const ts = ((f - 1) * 1000) / seq.fps;
    const out = tracker.update(ts, dets);
    const frameRows: TaggedRow[] = [];
    for (const t of out.tracks) {
      const tags = new Set<Tag>();
      if (t.score < config.high_score) tags.add('low');
      if (t.firstSeen === 0) tags.add('start');
      const n = (outputs.get(t.id) ?? 0) + 1;
      outputs.set(t.id, n);
      if (n <= 2) tags.add('first2');
      if (wasLost.has(t.id)) {
        tags.add('refound');
        refoundStretch.add(t.id);
        if (ts - lostAt.get(t.id)! > 500) tags.add('longgap');
      }
      if (refoundStretch.has(t.id)) tags.add('refound+');
      if (wasLost.has(t.id) && t.hits <= 5 && !youngRefound.has(t.id)) youngRefound.add(t.id);
      if (wasLost.has(t.id) && t.hits <= 5) tags.add('young-refound');
      if (youngRefound.has(t.id)) tags.add('young-refound+');
      // The detection it matched: same score, most overlap with the filtered box.
      let det: Box | null = null;
      let best = 0;
      for (const d of dets) {
        if (d.score !== t.score) continue;
        const o = iou(d.box, t.box);
        if (o > best) { best = o; det = d.box; }
      }
      frameRows.push({ row: { frame: f, id: t.id, box: t.box, conf: t.score }, tags, det });
    }
    // A younger track on the same place as an older one: a second track on one person.
    for (const a of frameRows) {
      for (const b of frameRows) if (b.row.id < a.row.id && iou(a.row.box, b.row.box) >= 0.5) a.tags.add('dup');
    }
    rows.push(...frameRows);
    wasLost.clear();
    for (const t of out.lost) {
      wasLost.add(t.id);
      if (!lostAt.has(t.id) || !refoundStretch.has(t.id)) lostAt.set(t.id, t.lastSeen);
      refoundStretch.delete(t.id);
    }
    for (const t of out.tracks) if (!wasLost.has(t.id)) lostAt.delete(t.id);
  }
  const perTrack = new Map<number, number>();
  for (const r of rows) perTrack.set(r.row.id, (perTrack.get(r.row.id) ?? 0) + 1);
  for (const r of rows) if (perTrack.get(r.row.id)! <= 5) r.tags.add('short');
  return rows;
}

const score = (seq: MotSequence, hyp: readonly MotRow[]): MotMetrics => evaluateMot(seq.gt, hyp, { gtFile: seq.dir, ...(seq.benchmark ? { benchmark: seq.benchmark } : {}) });
const f1 = (v: number): string => v.toFixed(1);
const signed = (v: number, digits = 0): string => (v > 0 ? '+' : '') + v.toFixed(digits);

interface Delta { rows: number; fp: number; fn: number; idsw: number; mota: number; idf1: number; hota: number }
const delta = (a: MotMetrics, b: MotMetrics, rows: number): Delta => ({
  rows, fp: b.fp - a.fp, fn: b.fn - a.fn, idsw: b.idsw - a.idsw, mota: b.mota - a.mota, idf1: b.idf1 - a.idf1, hota: b.hota - a.hota,
});
const showDelta = (name: string, d: Delta): string =>
  `  ${name.padEnd(28)} ${String(d.rows).padStart(6)} ${signed(d.fp).padStart(7)} ${signed(d.fn).padStart(7)} ${signed(d.idsw).padStart(6)} `
  + `${signed(d.mota, 2).padStart(7)} ${signed(d.idf1, 2).padStart(7)} ${signed(d.hota, 2).padStart(7)}`;
const figures = (m: MotMetrics): string => `MOTA ${f1(m.mota)} IDF1 ${f1(m.idf1)} HOTA ${f1(m.hota)} FP ${m.fp} FN ${m.fn} IDSW ${m.idsw} boxes ${m.hyp}`;

async function main(): Promise<void> {
  const seqs = (await motSequences(values.seq)).map((s) => thinned(s, Number(values.every)));
  const vs = variants();
  const refs = (values.ref ?? []).map((r) => {
    const eq = r.indexOf('=');
    if (eq < 1) throw new Error(`--ref wants NAME=DIR, got "${r}"`);
    return { name: r.slice(0, eq), dir: r.slice(eq + 1) };
  });
  const report: Record<string, unknown>[] = [];
  const totals = new Map<string, Delta>();
  const add = (key: string, d: Delta): void => {
    const t = totals.get(key) ?? { rows: 0, fp: 0, fn: 0, idsw: 0, mota: 0, idf1: 0, hota: 0 };
    totals.set(key, { rows: t.rows + d.rows, fp: t.fp + d.fp, fn: t.fn + d.fn, idsw: t.idsw + d.idsw, mota: t.mota + d.mota / seqs.length,
      idf1: t.idf1 + d.idf1 / seqs.length, hota: t.hota + d.hota / seqs.length });
  };
  for (const seq of seqs) {
    const rows = tagged(seq);
    const hyp = rows.map((r) => r.row);
    const m = score(seq, hyp);
    console.log(`\n${seq.name} (${seq.fps} fps, ${seq.frames} frames): ${figures(m)}`);
    for (const ref of refs) {
      const file = path.join(ref.dir, seq.name, `${ref.name}.txt`);
      if (existsSync(file)) console.log(`  ${ref.name}: ${figures(score(seq, await loadMotFile(file)))}`);
    }
    console.log(`  ${'boxes without / changed'.padEnd(28)} ${'rows'.padStart(6)} ${'ΔFP'.padStart(7)} ${'ΔFN'.padStart(7)} ${'ΔIDSW'.padStart(6)} `
      + `${'ΔMOTA'.padStart(7)} ${'ΔIDF1'.padStart(7)} ${'ΔHOTA'.padStart(7)}`);
    const entry: Record<string, unknown> = { sequence: seq.name, fps: seq.fps, metrics: m, tags: {}, variants: {} };
    for (const tag of TAGS) {
      const kept = rows.filter((r) => !r.tags.has(tag)).map((r) => r.row);
      const d = delta(m, score(seq, kept), hyp.length - kept.length);
      console.log(showDelta(`without ${tag}`, d));
      (entry['tags'] as Record<string, Delta>)[tag] = d;
      add(`without ${tag}`, d);
    }
    const detBoxes = rows.map((r) => (r.det === null ? r.row : { ...r.row, box: r.det }));
    const dd = delta(m, score(seq, detBoxes), rows.filter((r) => r.det !== null).length);
    console.log(showDelta('detection box, not filter', dd));
    (entry['tags'] as Record<string, Delta>)['detection box'] = dd;
    add('detection box, not filter', dd);
    for (const [name, cfg] of vs) {
      const v = scoreSequence(seq, cfg).metrics;
      const d = delta(m, v, v.hyp - m.hyp);
      console.log(showDelta(`variant: ${name}`, d));
      (entry['variants'] as Record<string, Delta>)[name] = d;
      add(`variant: ${name}`, d);
    }
    report.push(entry);
  }
  console.log(`\nall ${seqs.length} sequences (counts summed, Δ of MOTA/IDF1/HOTA averaged over sequences; rows: boxes removed or changed, or the variant's extra boxes):`);
  for (const [key, d] of totals) console.log(showDelta(key, d));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 1));
}

await main();
