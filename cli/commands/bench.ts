import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { evaluateMot, type MotMetrics } from '../../daemon/analytics/mot/evaluate.js';
import { formatMot, loadMotFile, MotFormatError, type MotRow } from '../../daemon/analytics/mot/format.js';
import { runTracker } from '../../daemon/analytics/mot/run-tracker.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';

const motOptions = z.strictObject({
  gt: z.string().min(1),
  det: z.string().min(1).optional(),
  hyp: z.string().min(1).optional(),
  fps: z.coerce.number().positive().max(1000).default(25),
  out: z.string().min(1).optional(),
  json: z.boolean().optional(),
}).refine((o) => (o.det === undefined) !== (o.hyp === undefined), { message: 'give exactly one of --det and --hyp' })
  .refine((o) => o.out === undefined || o.det !== undefined, { message: '--out writes the tracker output of --det; it needs --det' });

type MotOptions = z.infer<typeof motOptions>;

const round = (v: number, places = 3): number => Math.round(v * 10 ** places) / 10 ** places;

/** `vigilctl bench`: measurements a user can repeat; today the tracker's accuracy on MOTChallenge data. */
export function benchCommand(out: Output): Command {
  const cmd = new Command('bench').description('measure Vigil on public benchmark data');
  cmd.command('mot')
    .description('CLEAR MOT and IDF1 against MOTChallenge ground truth: of Vigil\'s tracker on detections (--det), or of any tracker\'s output (--hyp)')
    .requiredOption('--gt <file>', 'ground truth, MOTChallenge text (frame,id,x,y,w,h,...)')
    .option('--det <file>', 'detections (frame,-1,x,y,w,h,score,...) to run Vigil\'s tracker over')
    .option('--hyp <file>', 'a tracker\'s output to score')
    .option('--fps <n>', 'frame rate of the sequence, for the tracker\'s motion model', '25')
    .option('--out <file>', 'with --det: write the tracker\'s output as MOTChallenge text')
    .option('--json', 'machine-readable output')
    .action(async (raw: Record<string, unknown>) => {
      const parsed = motOptions.safeParse(raw);
      if (!parsed.success) {
        throw new CliError(`bench mot: ${parsed.error.issues.map((i) => `${i.path.length > 0 ? `--${i.path.join('.')}: ` : ''}${i.message}`).join('; ')}`, EXIT.usage);
      }
      await benchMot(parsed.data, out);
    });
  return cmd;
}

async function benchMot(opts: MotOptions, out: Output): Promise<void> {
  try {
    const gt = await loadMotFile(opts.gt);
    let hyp: readonly MotRow[];
    let tracker: { frames: number; msPerFrame: number } | undefined;
    if (opts.det !== undefined) {
      const det = await loadMotFile(opts.det);
      const lastFrame = Math.max(0, ...gt.map((r) => r.frame), ...det.map((r) => r.frame));
      const run = runTracker(det, { fps: opts.fps, lastFrame });
      hyp = run.hypothesis;
      tracker = { frames: run.frames, msPerFrame: run.msPerFrame };
      if (opts.out !== undefined) await writeFile(opts.out, formatMot(hyp));
    } else {
      hyp = await loadMotFile(opts.hyp!);
    }
    const m = evaluateMot(gt, hyp);
    const source = opts.det !== undefined ? { det_file: opts.det } : { hyp_file: opts.hyp };
    out.result(opts.json, {
      gt_file: opts.gt, ...source, ...jsonMetrics(m),
      ...(tracker ? { frames: tracker.frames, ms_per_frame: round(tracker.msPerFrame, 4) } : {}),
    }, humanReport(opts, m, tracker));
  } catch (err) {
    if (err instanceof MotFormatError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
}

function jsonMetrics(m: MotMetrics): Record<string, number> {
  return {
    mota: round(m.mota), idf1: round(m.idf1), idp: round(m.idp), idr: round(m.idr), motp: round(m.motp),
    fp: m.fp, fn: m.fn, idsw: m.idsw, gt: m.gt, hyp: m.hyp, matches: m.matches,
    idtp: m.idtp, idfp: m.idfp, idfn: m.idfn, gt_ids: m.gtIds, mt: m.mt, ml: m.ml,
  };
}

function humanReport(opts: MotOptions, m: MotMetrics, tracker: { frames: number; msPerFrame: number } | undefined): string {
  const what = tracker ? `Vigil tracker on ${opts.det} (${tracker.frames} frames, ${tracker.msPerFrame.toFixed(3)} ms/frame)` : opts.hyp;
  const f = (v: number): string => v.toFixed(1);
  return [
    `${what} vs ${opts.gt}`,
    `MOTA ${f(m.mota)}  IDF1 ${f(m.idf1)}  IDP ${f(m.idp)}  IDR ${f(m.idr)}  MOTP ${f(m.motp)}`,
    `FP ${m.fp}  FN ${m.fn}  IDSW ${m.idsw}  matches ${m.matches}/${m.gt}  MT ${m.mt}  ML ${m.ml} of ${m.gtIds} identities`,
  ].join('\n');
}
