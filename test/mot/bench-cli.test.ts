import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { CommanderError } from 'commander';
import { CliError, EXIT } from '../../cli/errors.js';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { sharedPath, tempDir } from '../helpers/shared.js';

function capture(): { out: Output; lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines, errors,
    out: {
      raw: (text) => lines.push(text),
      result: (json, value, human) => lines.push(json ? JSON.stringify(value) : human),
      error: (text) => errors.push(text),
    },
  };
}

const gt = sharedPath('mot', 'TUD-Campus', 'gt.txt');

test('bench mot --hyp --json prints the devkit figures for CEM', async () => {
  const c = capture();
  await buildProgram(c.out).parseAsync(['bench', 'mot', '--gt', gt, '--hyp', sharedPath('mot', 'TUD-Campus', 'hyp_CEM.txt'), '--json'], { from: 'user' });
  assert.equal(c.lines.length, 1);
  const r = JSON.parse(c.lines[0]!) as Record<string, unknown>;
  assert.equal(r['mota'], 52.646);
  assert.equal(r['idf1'], 55.766);
  assert.equal(r['hota'], 39.14);
  assert.equal(r['benchmark'], 'MOT15');
  assert.deepEqual([r['fp'], r['fn'], r['idsw'], r['gt'], r['matches']], [13, 150, 7, 359, 209]);
  for (const key of ['idp', 'idr', 'motp', 'hyp']) assert.equal(typeof r[key], 'number', key);
});

test('bench mot --det runs the tracker, prints JSON and writes its output with --out', async (t) => {
  const c = capture();
  const hypFile = path.join(await tempDir(t), 'vigil.txt');
  await buildProgram(c.out).parseAsync(['bench', 'mot', '--gt', gt, '--det', sharedPath('mot', 'TUD-Campus', 'det.txt'),
    '--out', hypFile, '--json'], { from: 'user' });
  const r = JSON.parse(c.lines[0]!) as Record<string, number>;
  assert.ok(r['mota']! >= 67 && r['idf1']! >= 62, c.lines[0]);
  assert.equal(r['frames'], 71);
  assert.ok(r['ms_per_frame']! > 0);
  // The written file scores the same when read back as a hypothesis.
  const again = capture();
  await buildProgram(again.out).parseAsync(['bench', 'mot', '--gt', gt, '--hyp', hypFile, '--json'], { from: 'user' });
  const back = JSON.parse(again.lines[0]!) as Record<string, number>;
  assert.deepEqual([back['fp'], back['fn'], back['idsw']], [r['fp'], r['fn'], r['idsw']]);
  assert.match(await readFile(hypFile, 'utf8'), /^1,1,/);
});

test('bench mot --tracker runs the tracker with other settings', async () => {
  const run = async (extra: string[]): Promise<Record<string, number>> => {
    const c = capture();
    await buildProgram(c.out).parseAsync(['bench', 'mot', '--gt', gt, '--det', sharedPath('mot', 'TUD-Campus', 'det.txt'), '--json', ...extra], { from: 'user' });
    return JSON.parse(c.lines[0]!) as Record<string, number>;
  };
  const defaults = await run([]);
  const lower = await run(['--tracker', '{"high_score": 0.5, "new_track_score": 0.5}']);
  // Starting tracks from 0.5-score boxes lets misplaced boxes start tracks: more false positives.
  assert.ok(lower['fp']! > defaults['fp']!, `FP ${lower['fp']} with low thresholds, ${defaults['fp']} with the defaults`);
});

test('the human report names the figures', async () => {
  const c = capture();
  await buildProgram(c.out).parseAsync(['bench', 'mot', '--gt', gt, '--hyp', sharedPath('mot', 'TUD-Campus', 'hyp_CEM.txt')], { from: 'user' });
  assert.match(c.lines.join('\n'), /MOTA 52\.6 {2}IDF1 55\.8/);
  assert.match(c.lines.join('\n'), /FP 13 {2}FN 150 {2}IDSW 7/);
});

test('usage errors exit with 2', async () => {
  const usage = async (args: string[], message: RegExp): Promise<void> => {
    await assert.rejects(buildProgram(capture().out).parseAsync(['bench', 'mot', ...args], { from: 'user' }), (err: unknown) => {
      assert.ok(err instanceof CliError, String(err));
      assert.equal(err.exitCode, EXIT.usage);
      assert.match(err.message, message);
      return true;
    });
  };
  await usage(['--gt', gt], /exactly one of --det and --hyp/);
  await usage(['--seq', gt, '--gt', gt], /--seq scores whole sequence folders/);
  await usage(['--gt', gt, '--hyp', gt, '--benchmark', 'MOT99'], /--benchmark/);
  await usage(['--gt', gt, '--hyp', gt, '--tracker', '{high_score: 1'], /--tracker is not JSON/);
  await usage(['--gt', gt, '--hyp', gt, '--tracker', '{"min_hits": 0}'], /--tracker: min_hits: /);
  await usage(['--gt', gt, '--hyp', gt, '--tracker', '{"appearance": {"enabled": true}}'], /appearance.enabled needs the frames/);
  await usage(['--gt', gt, '--det', gt, '--hyp', gt], /exactly one of --det and --hyp/);
  await usage(['--gt', gt, '--hyp', gt, '--out', '/tmp/x'], /--out .* needs --det/);
  await usage(['--gt', gt, '--hyp', gt, '--fps', 'fast'], /--fps/);
});

test('a missing --gt is a usage error, not a process exit', async () => {
  await assert.rejects(buildProgram(capture().out).parseAsync(['bench', 'mot', '--hyp', gt], { from: 'user' }),
    (err: unknown) => err instanceof CliError && err.exitCode === EXIT.usage && /give --gt .*or --seq/.test(err.message));
});

test('a --seq without a value is a commander usage error', async () => {
  const c = capture();
  await assert.rejects(buildProgram(c.out).parseAsync(['bench', 'mot', '--seq'], { from: 'user' }),
    (err: unknown) => err instanceof CommanderError && err.code === 'commander.optionMissingArgument');
});

test('bench mot --seq prints one row per sequence with MOTA, IDF1 and HOTA, the tuning sequence marked', async (t) => {
  // A second sequence in the MOTChallenge layout: MOT20-named (so MOT20 rules), seqinfo.ini at 10 fps,
  // two walkers of whom the tracker follows both, and a box on a non-motorised vehicle it must not be blamed for.
  const dir = path.join(await tempDir(t), 'MOT20-99');
  await mkdir(path.join(dir, 'gt'), { recursive: true });
  await mkdir(path.join(dir, 'det'));
  const frames = Array.from({ length: 20 }, (_, k) => k + 1);
  await writeFile(path.join(dir, 'seqinfo.ini'), '[Sequence]\nname=MOT20-99\nframeRate=10\nseqLength=20\n');
  await writeFile(path.join(dir, 'gt', 'gt.txt'), frames.flatMap((f) => [
    `${f},1,${10 + 2 * f},50,40,100,1,1,1`, `${f},2,${400 - 2 * f},60,40,100,1,1,1`, `${f},3,700,60,80,60,1,6,1`]).join('\n'));
  await writeFile(path.join(dir, 'det', 'det.txt'), frames.flatMap((f) => [
    `${f},-1,${10 + 2 * f},50,40,100,0.95,-1,-1,-1`, `${f},-1,${400 - 2 * f},60,40,100,0.9,-1,-1,-1`, `${f},-1,700,60,80,60,0.9,-1,-1,-1`]).join('\n'));

  const c = capture();
  await buildProgram(c.out).parseAsync(['bench', 'mot', '--seq', sharedPath('mot', 'TUD-Campus'), dir, '--json'], { from: 'user' });
  const r = JSON.parse(c.lines[0]!) as { sequences: Record<string, unknown>[] };
  assert.deepEqual(r.sequences.map((s) => [s['sequence'], s['tuned'], s['benchmark'], s['frames']]),
    [['TUD-Campus', true, 'MOT15', 71], ['MOT20-99', false, 'MOT20', 20]]);
  const synthetic = r.sequences[1]!;
  assert.deepEqual([synthetic['mota'], synthetic['idf1'], synthetic['fp'], synthetic['fn'], synthetic['idsw'], synthetic['hyp_ignored']], [100, 100, 0, 0, 0, 20]);
  for (const s of r.sequences) for (const key of ['mota', 'idf1', 'hota', 'deta', 'assa', 'ms_per_frame']) assert.equal(typeof s[key], 'number', key);

  const human = capture();
  await buildProgram(human.out).parseAsync(['bench', 'mot', '--seq', sharedPath('mot', 'TUD-Campus'), dir, '--tuned', 'MOT20-99'], { from: 'user' });
  const text = human.lines.join('\n');
  assert.match(text, /^sequence +rules +frames +MOTA +IDF1 +HOTA/);
  assert.match(text, /\nTUD-Campus +MOT15 +71 +\d+\.\d/);
  assert.match(text, /\nMOT20-99 \* +MOT20 +20 +100\.0 +100\.0 +100\.0/);
  assert.match(text, /\* tuning sequence/);
});

test('a sequence folder without detections is named in the error', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'gt.txt'), '1,1,0,0,10,10,1,-1,-1,-1\n');
  await assert.rejects(buildProgram(capture().out).parseAsync(['bench', 'mot', '--seq', dir], { from: 'user' }),
    (err: unknown) => err instanceof CliError && err.exitCode === EXIT.usage && err.message.startsWith(`${dir}: no detections`));
});

test('a bad line in an input file is reported with its file and line', async (t) => {
  const bad = path.join(await tempDir(t), 'bad.txt');
  await writeFile(bad, '1,1,10,10,20,40,-1,-1,-1,-1\n2,1,10,10,twenty,40,-1,-1,-1,-1\n');
  await assert.rejects(buildProgram(capture().out).parseAsync(['bench', 'mot', '--gt', gt, '--hyp', bad], { from: 'user' }),
    (err: unknown) => err instanceof CliError && err.exitCode === EXIT.usage && err.message === `${bad}:2: width is not a number: "twenty"`);
});
