/**
 * Leave-one-sequence-out choice of the tracker's defaults (docs/tracking.md, "The rule for
 * defaults"): runs every setting of a grid over every MOTChallenge sequence folder, with the same
 * loader and scoring as `vigilctl bench mot --seq` (loadMotSequence, scoreSequence), then for each
 * sequence chooses the setting with the best mean HOTA on the others and scores it on the one left
 * out, and applies the written decision rule against the current defaults.
 *
 *   node dist/scripts/tracker-sweep.js [--seq DIR ...] [--grid motion|structural|both] [--out FILE.json]
 *
 * `motion` is the 432 settings of the eleven-sequence sweep; `structural` the settings added after
 * the diagnosis of issue 26 (scripts/tracker-diagnose.ts), everything else at its default; `both` all.
 *
 * Default sequences: every folder under test/fixtures/mot/ with detections.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { scoreSequence } from '../daemon/analytics/mot/score-sequence.js';
import { trackerConfigSchema, type TrackerConfigInput } from '../daemon/analytics/tracker/config.js';
import { motSequences } from './mot-fixtures.js';

/** The grid the rule names; each list holds the current default (checked below). */
const MOTION_GRID = {
  re_update: [false, true],
  recovery_iou: [0, 0.3],
  momentum_weight: [0, 0.2],
  high_score: [0.5, 0.6, 0.7],
  new_track_score: [0.6, 0.7, 0.8],
  min_hits: [2, 3],
  max_lost_ms: [1000, 2000, 3000],
};
/**
 * The structural settings of docs/tracking.md, "Where the false positives and identity switches
 * come from": every value tried while diagnosing, so that leave-one-out, not the diagnosis, chooses.
 */
const STRUCTURAL_GRID = {
  lost_after_tracked: [false, true],
  lost_seen_ratio: [0, 0.5, 1, 2],
};
const GRIDS: Record<string, Record<string, readonly (number | boolean)[]>> = {
  motion: MOTION_GRID,
  structural: STRUCTURAL_GRID,
  both: { ...MOTION_GRID, ...STRUCTURAL_GRID },
};
type Setting = Record<string, number | boolean>;

/** The decision rule's thresholds, as written in docs/tracking.md before the sweep was run. */
const RULE = { minMeanGain: 0.5, maxWorse: 2, maxDrop: 2.0 };

interface Figures { hota: number; mota: number; idf1: number }

const { values } = parseArgs({
  options: {
    seq: { type: 'string', multiple: true },
    out: { type: 'string', default: '/tmp/vigil-tracker-sweep.json' },
    grid: { type: 'string', default: 'motion' },
  },
});
const GRID = GRIDS[values.grid] ?? ((): never => {
  throw new Error(`--grid must be one of ${Object.keys(GRIDS).join(', ')}, got "${values.grid}"`);
})();
const KEYS = Object.keys(GRID);

function settings(): Setting[] {
  let all: Record<string, unknown>[] = [{}];
  for (const key of KEYS) all = all.flatMap((s) => GRID[key]!.map((v) => ({ ...s, [key]: v })));
  return all as Setting[];
}

const defaults = trackerConfigSchema.parse({});
const defaultSetting = Object.fromEntries(KEYS.map((k) => [k, (defaults as Record<string, unknown>)[k]])) as Setting;
for (const key of KEYS) {
  if (!GRID[key]!.includes(defaultSetting[key]!)) throw new Error(`the grid's ${key} lacks the default ${String(defaultSetting[key])}`);
}
const changes = (s: Setting): number => KEYS.filter((k) => s[k] !== defaultSetting[k]).length;
const describe = (s: Setting): string => KEYS.filter((k) => s[k] !== defaultSetting[k]).map((k) => `${k} ${String(s[k])}`).join(', ') || 'the defaults';

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const f1 = (v: number): string => v.toFixed(1);

async function main(): Promise<void> {
  const seqs = await motSequences(values.seq);
  const grid = settings();
  const started = Date.now();
  // scores[i][j]: setting i on sequence j.
  const scores: Figures[][] = grid.map((setting, i) => {
    if (i % 48 === 0) process.stderr.write(`setting ${i + 1}/${grid.length} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    return seqs.map((seq) => {
      const { metrics: m } = scoreSequence(seq, trackerConfigSchema.parse(setting) satisfies TrackerConfigInput);
      return { hota: m.hota, mota: m.mota, idf1: m.idf1 };
    });
  });
  const d = grid.findIndex((s) => changes(s) === 0);
  const best = (exclude: number): number => {
    let pick = -1;
    let pickMean = -Infinity;
    grid.forEach((s, i) => {
      const m = mean(scores[i]!.filter((_, j) => j !== exclude).map((x) => x.hota));
      // Ties (within float noise) go to fewer changes from the defaults, then to grid order.
      if (m > pickMean + 1e-9 || (Math.abs(m - pickMean) <= 1e-9 && changes(s) < changes(grid[pick]!))) {
        pick = i;
        pickMean = m;
      }
    });
    return pick;
  };

  console.log(`${seqs.length} sequences, ${grid.length} settings, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  console.log('one setting changed from the defaults: HOTA per sequence, mean');
  console.log(['setting', ...seqs.map((s) => s.name), 'mean'].join(' | '));
  const singles = grid.map((s, i) => [s, i] as const).filter(([s]) => changes(s) <= 1);
  for (const [s, i] of singles) console.log([describe(s), ...scores[i]!.map((x) => f1(x.hota)), f1(mean(scores[i]!.map((x) => x.hota)))].join(' | '));

  console.log('\nleave one sequence out: held-out sequence | chosen on the others | held-out MOTA / IDF1 / HOTA | defaults there');
  const folds = seqs.map((seq, j) => {
    const i = best(j);
    const held = scores[i]![j]!;
    const def = scores[d]![j]!;
    console.log(`${seq.name} | ${describe(grid[i]!)} | ${f1(held.mota)} / ${f1(held.idf1)} / ${f1(held.hota)} | ${f1(def.mota)} / ${f1(def.idf1)} / ${f1(def.hota)}`);
    return { sequence: seq.name, chosen: grid[i]!, held, defaults: def };
  });
  const gain = mean(folds.map((f) => f.held.hota)) - mean(folds.map((f) => f.defaults.hota));
  const worse = folds.filter((f) => f.held.hota < f.defaults.hota - 1e-9);
  const maxDrop = Math.max(0, ...worse.map((f) => f.defaults.hota - f.held.hota));
  const motaGain = mean(folds.map((f) => f.held.mota)) - mean(folds.map((f) => f.defaults.mota));
  const idf1Gain = mean(folds.map((f) => f.held.idf1)) - mean(folds.map((f) => f.defaults.idf1));
  const checks = {
    meanGain: gain >= RULE.minMeanGain,
    breadth: worse.length <= RULE.maxWorse && maxDrop <= RULE.maxDrop,
    noTrade: motaGain >= 0 && idf1Gain >= 0,
  };
  const change = checks.meanGain && checks.breadth && checks.noTrade;
  const all = best(-1);
  console.log(`\nheld-out mean against the defaults: HOTA ${gain >= 0 ? '+' : ''}${gain.toFixed(2)}, MOTA ${motaGain >= 0 ? '+' : ''}${motaGain.toFixed(2)}, `
    + `IDF1 ${idf1Gain >= 0 ? '+' : ''}${idf1Gain.toFixed(2)}; lower HOTA on ${worse.length} of ${folds.length} (${worse.map((f) => f.sequence).join(', ') || 'none'}), `
    + `largest drop ${maxDrop.toFixed(2)}`);
  console.log(`rule: gain ≥ ${RULE.minMeanGain} ${checks.meanGain ? 'holds' : 'fails'}; at most ${RULE.maxWorse} worse, none by more than ${RULE.maxDrop} `
    + `${checks.breadth ? 'holds' : 'fails'}; MOTA and IDF1 not lower ${checks.noTrade ? 'holds' : 'fails'}`);
  console.log(`best mean HOTA on all ${seqs.length}: ${describe(grid[all]!)} (${f1(mean(scores[all]!.map((x) => x.hota)))}, defaults ${f1(mean(scores[d]!.map((x) => x.hota)))})`);
  console.log(change ? `=> change the defaults to: ${describe(grid[all]!)}` : '=> the defaults stay');

  writeFileSync(values.out, JSON.stringify({
    sequences: seqs.map((s) => s.name), grid: grid.map((s, i) => ({ setting: s, scores: scores[i] })),
    folds, decision: { gain, motaGain, idf1Gain, worse: worse.map((f) => f.sequence), maxDrop, checks, change, bestOnAll: grid[all] },
  }, null, 1));
  console.log(`every figure: ${values.out}`);
}

await main();
