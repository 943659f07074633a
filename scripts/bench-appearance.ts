/**
 * The tracker's appearance cue (OSNet x0.25, docs/tracking.md "Appearance") scored against ground
 * truth: MOTChallenge-layout sequences that have their images, each run through Vigil's tracker
 * with the cue off (`update`, what a stream without the cue runs) and on (`updateSeeing` with
 * OSNet crops of the frame), scored by `evaluateMot`, with the crops each frame cost and the
 * tracker's time per frame.
 *
 *   node dist/scripts/bench-appearance.js --seq DIR [--seq DIR ...] [--tuned TUD-Campus] [--detections public|nanodet-m]
 *     [--every 1] [--rounds 2] [--fps 25] [--tracker JSON] [--json FILE]
 *
 * A sequence folder holds what `vigilctl bench mot` reads (gt/gt.txt or gt.txt, det/det.txt or
 * det.txt, seqinfo.ini for the frame rate, else `--fps`) and the frames in img1/ or img/ (*.jpg, frame n = the
 * n-th name in order). docs/tracking.md ("Appearance", "Scored against ground truth") says where
 * to get them; they are not in the repository (their licence forbids it).
 *
 * Crops are taken as vigild takes them: from the frame scaled to the detector's input (NanoDet-m,
 * 416×416, aspect kept), not from the full-size image. `--detections nanodet-m` replaces the
 * public detections with NanoDet-m's person boxes on those frames, as a stream would see them.
 * `--every N` feeds every N-th frame (and scores those frames only), as a stream analysing at a
 * lower rate than the camera's would. ms/frame is the fastest of `--rounds` identical runs, on
 * whatever machine runs it.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateMot, type MotMetrics } from '../daemon/analytics/mot/evaluate.js';
import type { MotRow } from '../daemon/analytics/mot/format.js';
import { loadMotSequence, type MotSequence } from '../daemon/analytics/mot/sequence.js';
import { embedderLook, Tracker, type AppearanceStats } from '../daemon/analytics/tracker/index.js';
import { trackerConfigSchema, type TrackerConfigInput } from '../daemon/analytics/tracker/config.js';
import { loadDetector, type Detector } from '../daemon/inference/detector.js';
import type { Detection } from '../daemon/inference/types.js';
import { Embedder } from '../daemon/learning/embedder.js';
import { silentLogger } from '../daemon/log.js';
import { selfTestFrame } from '../daemon/models/self-test.js';
import type { Frame } from '../daemon/video/frame.js';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const shared = process.env['VIGIL_SHARED_DIR'] ?? path.resolve(repo, '..', 'shared');
const { values: args } = parseArgs({
  options: {
    seq: { type: 'string', multiple: true, default: [] },
    tuned: { type: 'string', default: 'TUD-Campus' },
    detections: { type: 'string', default: 'public' },
    every: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    fps: { type: 'string', default: '25' },
    tracker: { type: 'string', default: '{}' },
    json: { type: 'string' },
  },
});

function fail(message: string): never {
  process.stderr.write(`bench-appearance: ${message}\n`);
  process.exit(2);
}

if (args.seq.length === 0) fail('give at least one --seq DIR (docs/tracking.md, "Appearance", says where to get sequences with images)');
if (args.detections !== 'public' && args.detections !== 'nanodet-m') fail(`--detections must be public or nanodet-m, got "${args.detections}"`);
const every = Number(args.every);
const rounds = Number(args.rounds);
if (!Number.isInteger(every) || every < 1) fail(`--every must be a whole number ≥ 1, got "${args.every}"`);
if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a whole number ≥ 1, got "${args.rounds}"`);
let trackerInput: TrackerConfigInput;
try {
  trackerInput = JSON.parse(args.tracker) as TrackerConfigInput;
} catch (err) {
  fail(`--tracker is not JSON: ${(err as Error).message}`);
}
const checked = trackerConfigSchema.safeParse(trackerInput);
if (!checked.success) fail(`--tracker: ${checked.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
const tuned = new Set(args.tuned.split(',').filter((s) => s !== ''));

/** The frames of a sequence folder, in name order: img1/ (MOTChallenge) or img/. */
async function framePaths(dir: string): Promise<string[]> {
  for (const sub of ['img1', 'img']) {
    const folder = path.join(dir, sub);
    const names = await readdir(folder).catch(() => null);
    if (names === null) continue;
    const jpgs = names.filter((n) => /\.jpe?g$/i.test(n)).sort();
    if (jpgs.length > 0) return jpgs.map((n) => path.join(folder, n));
  }
  return fail(`${dir}: no frames (looked for img1/*.jpg and img/*.jpg)`);
}

interface Fed { frame: number; image: Frame; detections: Detection[] }

/**
 * Every `every`-th frame as vigild's analysis would hold it, with its detections (public ones, or
 * NanoDet-m's). NanoDet-m runs on every frame either way: its time is what the cue's cost is
 * measured against (docs/tracking.md's rule: at most 10 % of detector + tracker).
 */
async function feed(seq: MotSequence, detector: Detector, own: boolean): Promise<{ frames: Fed[]; detectorMs: number }> {
  const size = detector.inputSize();
  const files = await framePaths(seq.dir);
  if (files.length < seq.frames) fail(`${seq.dir}: ${files.length} frames on disk, but the sequence has ${seq.frames}`);
  const public_ = new Map<number, Detection[]>();
  for (const r of seq.det) {
    const list = public_.get(r.frame) ?? [];
    list.push({ classId: 0, label: 'person', score: r.conf, box: [...r.box] });
    public_.set(r.frame, list);
  }
  const frames: Fed[] = [];
  let spent = 0;
  for (let f = 1; f <= seq.frames; f += every) {
    const image = await selfTestFrame(files[f - 1]!, size);
    const started = performance.now();
    const found = await detector.detect(image);
    spent += performance.now() - started;
    frames.push({ frame: f, image, detections: own ? found.filter((d) => d.label === 'person') : public_.get(f) ?? [] });
  }
  return { frames, detectorMs: spent / Math.max(1, frames.length) };
}

interface Run { hyp: MotRow[]; ms: number; stats: AppearanceStats }

async function run(frames: readonly Fed[], fps: number, embedder: Embedder, cue: boolean): Promise<Run> {
  const tracker = new Tracker({ ...trackerInput, appearance: { ...trackerInput.appearance, enabled: cue } });
  const hyp: MotRow[] = [];
  let spent = 0;
  for (const fed of frames) {
    const ts = ((fed.frame - 1) * 1000) / fps;
    const started = performance.now();
    // Off, the stream calls `update`; on, `updateSeeing` with the frame (streams/appearance-looks.ts).
    const out = cue ? await tracker.updateSeeing(ts, fed.detections, embedderLook(embedder, fed.image)) : tracker.update(ts, fed.detections);
    spent += performance.now() - started;
    for (const t of out.tracks) hyp.push({ frame: fed.frame, id: t.id, box: t.box, conf: t.score });
  }
  return { hyp, ms: spent / Math.max(1, frames.length), stats: { ...tracker.appearanceStats } };
}

/** The fastest of `rounds` runs; the runs must agree (the tracker and OSNet are deterministic). */
async function fastest(frames: readonly Fed[], fps: number, embedder: Embedder, cue: boolean): Promise<Run> {
  let best: Run | null = null;
  for (let r = 0; r < rounds; r++) {
    const got = await run(frames, fps, embedder, cue);
    if (best !== null && JSON.stringify(got.hyp) !== JSON.stringify(best.hyp)) fail(`two runs with the cue ${cue ? 'on' : 'off'} disagree: not deterministic`);
    if (best === null || got.ms < best.ms) best = got;
  }
  return best!;
}

interface Row {
  sequence: string;
  tuned: boolean;
  rules: string;
  fps: number;
  frames: number;
  detectionsPerFrame: number;
  /** NanoDet-m's mean time per frame, ms, on the same machine: what an analysed frame costs without the tracker. */
  detectorMs: number;
  off: { metrics: MotMetrics; msPerFrame: number };
  on: { metrics: MotMetrics; msPerFrame: number; cropsPerFrame: number; msPerCrop: number; stats: AppearanceStats };
}

const log = silentLogger();
const manifestPath = path.join(repo, 'models', 'nanodet-m.json');
const detector = await loadDetector({ name: 'nanodet-m', manifestPath, modelsDir: path.join(shared, 'models'), providers: ['cpu'], threads: 1 }, log);
const embedder = await Embedder.open(path.join(shared, 'models', 'osnet-x0.25', 'model.onnx'));
const rows: Row[] = [];
try {
  for (const dir of args.seq) {
    const seq = await loadMotSequence(dir, Number(args.fps));
    const { frames, detectorMs } = await feed(seq, detector, args.detections === 'nanodet-m');
    const fps = seq.fps / every;
    const kept = new Set(frames.map((f) => f.frame));
    const gt = seq.gt.filter((r) => kept.has(r.frame));
    const score = (hyp: MotRow[]): MotMetrics => evaluateMot(gt, hyp, { gtFile: dir, ...(seq.benchmark ? { benchmark: seq.benchmark } : {}) });
    const off = await fastest(frames, seq.fps, embedder, false);
    const on = await fastest(frames, seq.fps, embedder, true);
    const n = frames.length;
    const offMetrics = score(off.hyp);
    rows.push({
      sequence: seq.name, tuned: tuned.has(seq.name), rules: offMetrics.benchmark, fps, frames: n, detectorMs,
      detectionsPerFrame: frames.reduce((s, f) => s + f.detections.filter((d) => d.score >= checked.data.high_score).length, 0) / n,
      off: { metrics: offMetrics, msPerFrame: off.ms },
      on: { metrics: score(on.hyp), msPerFrame: on.ms, cropsPerFrame: on.stats.crops / n, msPerCrop: on.stats.crops === 0 ? 0 : on.stats.lookMs / on.stats.crops, stats: on.stats },
    });
  }
} finally {
  await embedder.close();
  await detector.close();
}

const f1 = (v: number): string => v.toFixed(1);
const table: string[][] = [['sequence', 'fps', 'frames', 'cue', 'MOTA', 'IDF1', 'HOTA', 'AssA', 'IDSW', 'FP', 'FN', 'crops/f', 'dets/f', 'ms/frame', 'ms/crop', '+% frame', 'changed', 're-id']];
for (const r of rows) {
  const name = `${r.sequence}${r.tuned ? ' *' : ''}`;
  // What the cue adds to an analysed frame (NanoDet-m + tracker), the rule's second condition.
  const added = (100 * (r.on.msPerFrame - r.off.msPerFrame)) / (r.detectorMs + r.off.msPerFrame);
  for (const [cue, m, ms, extra] of [
    ['off', r.off.metrics, r.off.msPerFrame, ['0', f1(r.detectionsPerFrame), '', '', '', '']],
    ['on', r.on.metrics, r.on.msPerFrame, [r.on.cropsPerFrame.toFixed(2), f1(r.detectionsPerFrame), r.on.msPerCrop.toFixed(1), f1(added),
      String(r.on.stats.changed), String(r.on.stats.reidentified)]],
  ] as const) {
    table.push([name, f1(r.fps), String(r.frames), cue, f1(m.mota), f1(m.idf1), f1(m.hota), f1(m.assA), String(m.idsw), String(m.fp), String(m.fn), extra[0], extra[1],
      ms.toFixed(3), extra[2], extra[3], extra[4], extra[5]]);
  }
}
const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
process.stdout.write(`${table.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n')}\n`);
process.stdout.write(`detections: ${args.detections}; tracker: ${args.tracker}; * = tuning sequence of the tracker's motion defaults (not of the cue)\n`);
process.stdout.write(`NanoDet-m ms/frame here: ${rows.map((r) => `${r.sequence} ${r.detectorMs.toFixed(1)}`).join(', ')}; +% frame: what the cue adds to NanoDet-m + tracker\n`);
process.stdout.write('crops/f: OSNet crops per analysed frame; dets/f: high-score detections per frame (a crop for every one is what "every track, every frame" would cost)\n');
if (args.json !== undefined) await writeFile(args.json, `${JSON.stringify({ detections: args.detections, every, tracker: trackerInput, rows }, null, 2)}\n`);
