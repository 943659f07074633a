import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { evaluateMot, type MotMetrics } from '../../daemon/analytics/mot/evaluate.js';
import { formatMot, loadMotFile, MotFormatError, type MotRow } from '../../daemon/analytics/mot/format.js';
import { MOT_BENCHMARKS } from '../../daemon/analytics/mot/preprocess.js';
import { runTracker } from '../../daemon/analytics/mot/run-tracker.js';
import { scoreSequence } from '../../daemon/analytics/mot/score-sequence.js';
import { loadMotSequence, NoDetectionsError, type MotSequence } from '../../daemon/analytics/mot/sequence.js';
import { trackerConfigSchema, type TrackerConfig } from '../../daemon/analytics/tracker/config.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';

/** The sequence Vigil's tracker defaults were chosen on (docs/tracking.md); its figures flatter the tracker. */
export const DEFAULT_TUNED = ['TUD-Campus'];

const motOptions = z.strictObject({
  gt: z.string().min(1).optional(),
  det: z.string().min(1).optional(),
  hyp: z.string().min(1).optional(),
  seq: z.array(z.string().min(1)).min(1).optional(),
  tuned: z.string().optional(),
  benchmark: z.enum(MOT_BENCHMARKS).optional(),
  fps: z.coerce.number().positive().max(1000).default(25),
  tracker: z.string().min(1).optional(),
  out: z.string().min(1).optional(),
  json: z.boolean().optional(),
}).refine((o) => o.seq === undefined || (o.gt === undefined && o.det === undefined && o.hyp === undefined && o.out === undefined),
  { message: '--seq scores whole sequence folders; it takes none of --gt, --det, --hyp, --out' })
  .refine((o) => o.seq !== undefined || o.gt !== undefined, { message: 'give --gt (with --det or --hyp), or --seq' })
  .refine((o) => o.seq !== undefined || (o.det === undefined) !== (o.hyp === undefined), { message: 'give exactly one of --det and --hyp' })
  .refine((o) => o.out === undefined || o.det !== undefined, { message: '--out writes the tracker output of --det; it needs --det' });

type MotOptions = z.infer<typeof motOptions>;

const round = (v: number, places = 3): number => Math.round(v * 10 ** places) / 10 ** places;

/** `vigilctl bench`: measurements a user can repeat; today the tracker's accuracy on MOTChallenge data. */
export function benchCommand(out: Output): Command {
  const cmd = new Command('bench').description('measure Vigil on public benchmark data');
  cmd.command('mot')
    .description('MOTA, IDF1 and HOTA as MOTChallenge scores them (TrackEval\'s rules): of Vigil\'s tracker on detections (--det, or each --seq folder), or of any tracker\'s output (--hyp)')
    .option('--gt <file>', 'ground truth, MOTChallenge text (frame,id,x,y,w,h,...)')
    .option('--det <file>', 'detections (frame,-1,x,y,w,h,score,...) to run Vigil\'s tracker over')
    .option('--hyp <file>', 'a tracker\'s output to score')
    .option('--seq <dir...>', 'sequence folders (gt/gt.txt or gt.txt, det/det.txt or det.txt, optional seqinfo.ini): one row each')
    .option('--tuned <names>', `with --seq: comma-separated sequences the tracker's defaults were tuned on, marked * (default ${DEFAULT_TUNED.join(',')})`)
    .option('--benchmark <name>', `rules for the ground truth: ${MOT_BENCHMARKS.join(', ')} (default: MOT17 for 9-column ground truth, MOT15 for 10; MOT20 for a folder named MOT20-*)`)
    .option('--fps <n>', 'frame rate of the sequence, for the tracker\'s motion model (seqinfo.ini\'s frameRate wins)', '25')
    .option('--tracker <json>', 'tracker settings to use instead of the defaults, as JSON (e.g. \'{"momentum_weight":0}\')')
    .option('--out <file>', 'with --det: write the tracker\'s output as MOTChallenge text')
    .option('--json', 'machine-readable output')
    .action(async (raw: Record<string, unknown>) => {
      const parsed = motOptions.safeParse(raw);
      if (!parsed.success) {
        throw new CliError(`bench mot: ${parsed.error.issues.map((i) => `${i.path.length > 0 ? `--${i.path.join('.')}: ` : ''}${i.message}`).join('; ')}`, EXIT.usage);
      }
      const tracker = trackerSettings(parsed.data.tracker);
      try {
        if (parsed.data.seq !== undefined) await benchSequences(parsed.data, parsed.data.seq, tracker, out);
        else await benchMot(parsed.data, parsed.data.gt!, tracker, out);
      } catch (err) {
        if (err instanceof MotFormatError) throw new CliError(err.message, EXIT.usage);
        throw err;
      }
    });
  return cmd;
}

/** `--tracker` as validated settings; bad JSON or a bad setting is a usage error naming it. */
function trackerSettings(json: string | undefined): TrackerConfig {
  let raw: unknown = {};
  if (json !== undefined) {
    try {
      raw = JSON.parse(json);
    } catch (err) {
      throw new CliError(`bench mot: --tracker is not JSON: ${(err as Error).message}`, EXIT.usage);
    }
  }
  const parsed = trackerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CliError(`bench mot: --tracker: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, EXIT.usage);
  }
  if (parsed.data.appearance.enabled) {
    // Refused rather than ignored: the figures would be motion-only under a name that says otherwise.
    throw new CliError('bench mot: --tracker: appearance.enabled needs the frames, and the bench reads sequences as detections only; '
      + 'the cue is measured on video (docs/tracking.md, "Appearance")', EXIT.usage);
  }
  return parsed.data;
}

async function benchMot(opts: MotOptions, gtFile: string, tracker: TrackerConfig, out: Output): Promise<void> {
  const gt = await loadMotFile(gtFile);
  let hyp: readonly MotRow[];
  let timing: { frames: number; msPerFrame: number } | undefined;
  if (opts.det !== undefined) {
    const det = await loadMotFile(opts.det);
    const lastFrame = Math.max(0, ...gt.map((r) => r.frame), ...det.map((r) => r.frame));
    const run = runTracker(det, { fps: opts.fps, lastFrame, tracker });
    hyp = run.hypothesis;
    timing = { frames: run.frames, msPerFrame: run.msPerFrame };
    if (opts.out !== undefined) await writeFile(opts.out, formatMot(hyp));
  } else {
    hyp = await loadMotFile(opts.hyp!);
  }
  const m = evaluateMot(gt, hyp, { gtFile, ...(opts.benchmark ? { benchmark: opts.benchmark } : {}) });
  const source = opts.det !== undefined ? { det_file: opts.det } : { hyp_file: opts.hyp };
  out.result(opts.json, {
    gt_file: gtFile, ...source, ...jsonMetrics(m),
    ...(timing ? { frames: timing.frames, ms_per_frame: round(timing.msPerFrame, 4) } : {}),
  }, humanReport(opts, gtFile, m, timing));
}

interface SequenceResult {
  name: string;
  tuned: boolean;
  frames: number;
  msPerFrame: number;
  m: MotMetrics;
}

async function benchSequences(opts: MotOptions, dirs: readonly string[], tracker: TrackerConfig, out: Output): Promise<void> {
  const tuned = new Set(opts.tuned === undefined ? DEFAULT_TUNED : opts.tuned.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  const results: SequenceResult[] = [];
  const skipped: { dir: string; reason: string }[] = [];
  for (const dir of dirs) {
    let seq: MotSequence;
    try {
      seq = await loadMotSequence(dir, opts.fps);
    } catch (err) {
      // `--seq test/fixtures/mot/*` also names folders kept for the evaluator alone (MOT20-01: ground
      // truth and a published tracker's output, no detections): those are listed as passed over.
      // Anything else wrong with a folder, or no folder left to run, is an error.
      if (!(err instanceof NoDetectionsError) || dirs.length === 1) throw err;
      skipped.push({ dir, reason: 'no detections' });
      continue;
    }
    const { run, metrics } = scoreSequence(seq, tracker, { runs: 3, ...(opts.benchmark ? { benchmark: opts.benchmark } : {}) });
    results.push({ name: seq.name, tuned: tuned.has(seq.name), frames: run.frames, msPerFrame: run.msPerFrame, m: metrics });
  }
  if (results.length === 0) throw new CliError(`bench mot: none of the --seq folders has detections (${dirs.join(', ')})`, EXIT.usage);
  out.result(opts.json, {
    sequences: results.map((r) => ({ sequence: r.name, tuned: r.tuned, frames: r.frames, ms_per_frame: round(r.msPerFrame, 4), ...jsonMetrics(r.m) })),
    ...(results.length > 1 ? { mean: meanOf(results) } : {}),
    ...(skipped.length > 0 ? { skipped } : {}),
  }, sequenceTable(results, skipped));
}

/** Plain mean of the rows' MOTA, IDF1 and HOTA (each sequence counts once, however long), held-out rows apart from tuning ones. */
function meanOf(results: readonly SequenceResult[]): Record<string, number> {
  const mean = (rows: readonly SequenceResult[], key: 'mota' | 'idf1' | 'hota'): number => round(rows.reduce((s, r) => s + r.m[key], 0) / rows.length);
  const held = results.filter((r) => !r.tuned);
  return {
    sequences: results.length, mota: mean(results, 'mota'), idf1: mean(results, 'idf1'), hota: mean(results, 'hota'),
    ...(held.length > 0 && held.length < results.length
      ? { held_out_sequences: held.length, held_out_mota: mean(held, 'mota'), held_out_idf1: mean(held, 'idf1'), held_out_hota: mean(held, 'hota') }
      : {}),
  };
}

function sequenceTable(results: readonly SequenceResult[], skipped: readonly { dir: string; reason: string }[]): string {
  const f = (v: number): string => v.toFixed(1);
  const header = ['sequence', 'rules', 'frames', 'MOTA', 'IDF1', 'HOTA', 'DetA', 'AssA', 'FP', 'FN', 'IDSW', 'ms/frame'];
  const rows = results.map((r) => [`${r.name}${r.tuned ? ' *' : ''}`, r.m.benchmark, String(r.frames), f(r.m.mota), f(r.m.idf1), f(r.m.hota),
    f(r.m.detA), f(r.m.assA), String(r.m.fp), String(r.m.fn), String(r.m.idsw), r.msPerFrame.toFixed(3)]);
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((row) => row[k]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, k) => (k === 0 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!))).join('  ');
  const lines = [line(header), ...rows.map(line)];
  if (results.length > 1) {
    const m = meanOf(results);
    lines.push(`mean of ${results.length} rows: MOTA ${f(m['mota']!)}  IDF1 ${f(m['idf1']!)}  HOTA ${f(m['hota']!)}`
      + (m['held_out_sequences'] === undefined ? ''
        : `; of the ${m['held_out_sequences']} not marked *: MOTA ${f(m['held_out_mota']!)}  IDF1 ${f(m['held_out_idf1']!)}  HOTA ${f(m['held_out_hota']!)}`));
  }
  if (results.some((r) => r.tuned)) lines.push('* tuning sequence: the tracker\'s defaults were chosen on it, so its figures flatter the tracker');
  for (const s of skipped) lines.push(`passed over: ${s.dir} (${s.reason})`);
  return lines.join('\n');
}

function jsonMetrics(m: MotMetrics): Record<string, number | string> {
  return {
    benchmark: m.benchmark,
    mota: round(m.mota), idf1: round(m.idf1), hota: round(m.hota), deta: round(m.detA), assa: round(m.assA), loca: round(m.locA),
    idp: round(m.idp), idr: round(m.idr), motp: round(m.motp),
    fp: m.fp, fn: m.fn, idsw: m.idsw, gt: m.gt, hyp: m.hyp, matches: m.matches,
    idtp: m.idtp, idfp: m.idfp, idfn: m.idfn, gt_ids: m.gtIds, mt: m.mt, ml: m.ml,
    gt_ignored: m.gtIgnored, hyp_ignored: m.hypIgnored,
  };
}

function humanReport(opts: MotOptions, gtFile: string, m: MotMetrics, tracker: { frames: number; msPerFrame: number } | undefined): string {
  const what = tracker ? `Vigil tracker on ${opts.det} (${tracker.frames} frames, ${tracker.msPerFrame.toFixed(3)} ms/frame)` : opts.hyp;
  const f = (v: number): string => v.toFixed(1);
  return [
    `${what} vs ${gtFile} (${m.benchmark} rules)`,
    `MOTA ${f(m.mota)}  IDF1 ${f(m.idf1)}  HOTA ${f(m.hota)}  DetA ${f(m.detA)}  AssA ${f(m.assA)}  LocA ${f(m.locA)}`,
    `IDP ${f(m.idp)}  IDR ${f(m.idr)}  MOTP ${f(m.motp)}`,
    `FP ${m.fp}  FN ${m.fn}  IDSW ${m.idsw}  matches ${m.matches}/${m.gt}  MT ${m.mt}  ML ${m.ml} of ${m.gtIds} identities`
      + (m.gtIgnored + m.hypIgnored > 0 ? `  (ignored: ${m.gtIgnored} gt boxes, ${m.hypIgnored} on distractors)` : ''),
  ].join('\n');
}
