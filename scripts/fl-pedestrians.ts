/**
 * The verifier on the real plaza clip (../shared/video/pedestrians.mp4), for the figures in
 * docs/federated-learning.md. Every NanoDet-m person detection (score ≥ 0.3) of every 3rd frame is
 * a candidate alert; its features are the daemon's own (OSNet embedding of the crop + context).
 *
 * Labels come from a written rule, standing in for operator reviews: a detection is a FALSE alarm
 * when its score is below 0.45 (lamp-posts, the dog, fragments of people) or when its bottom centre
 * lies in the top 40 % of the picture (the far side of the plaza, outside the alert region);
 * every other detection is a TRUE alarm.
 *
 * Split by time: the first 60 % of the clip trains, the rest tests. Reported: the share of false
 * alarms the verifier keeps back at the threshold that still passes 95 % of true alarms, against the
 * detector's score alone at the same true-alarm rate; and the same with the training data split
 * over five simulated cameras by horizontal strip (non-IID) and pooled by FedAvg in ten rounds.
 *
 *   npm run build && node dist/scripts/fl-pedestrians.js
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { aggregate } from '../daemon/learning/aggregate.js';
import { Embedder } from '../daemon/learning/embedder.js';
import { EMBEDDING_DIM, FEATURE_DIM, featureVector } from '../daemon/learning/features.js';
import { predict, subtract, train, zeroWeights, type Sample, type Weights } from '../daemon/learning/model.js';
import { loadDetector } from '../daemon/inference/detector.js';
import { silentLogger } from '../daemon/log.js';
import type { Frame } from '../daemon/video/frame.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const shared = process.env['VIGIL_SHARED_DIR'] ?? path.resolve(root, '..', 'shared');
const W = 960;
const H = 540;
const FW = 416;
const FH = 234;
const STEP = 3;

interface Candidate extends Sample {
  frame: number;
  score: number;
  cx: number;
}

function decode(dir: string): Buffer {
  const out = path.join(dir, 'frames.raw');
  execFileSync('gst-launch-1.0', ['-q', 'filesrc', `location=${path.join(shared, 'video', 'pedestrians.mp4')}`, '!', 'qtdemux', '!', 'h264parse', '!',
    'avdec_h264', '!', 'videoconvert', '!', 'videoscale', '!', `video/x-raw,format=BGRx,width=${FW},height=${FH}`, '!', 'filesink', `location=${out}`]);
  return readFileSync(out);
}

/** Keeps the share of false alarms below the threshold that lets `tar` of the true alarms through. */
function reductionAt(scores: { s: number; y: 0 | 1 }[], tar: number): { reduction: number; threshold: number } {
  const trues = scores.filter((x) => x.y === 1).map((x) => x.s).sort((a, b) => a - b);
  const threshold = trues[Math.floor((1 - tar) * trues.length)] ?? 0;
  const falses = scores.filter((x) => x.y === 0);
  return { reduction: falses.filter((x) => x.s < threshold).length / Math.max(1, falses.length), threshold };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-fl-ped-'));
  try {
    const raw = decode(dir);
    const frameBytes = FW * FH * 4;
    const frames = Math.floor(raw.length / frameBytes);
    const detector = await loadDetector({ name: 'nanodet-m', manifestPath: path.join(root, 'models', 'nanodet-m.json'), modelsDir: path.join(shared, 'models'),
      providers: ['cpu'], threads: 1 }, silentLogger());
    const embedder = await Embedder.open(path.join(shared, 'models', 'osnet-x0.25', 'model.onnx'));
    const all: Candidate[] = [];
    for (let i = 0; i < frames; i += STEP) {
      const frame: Frame = { streamId: 'plaza', seq: i, ts: Date.UTC(2026, 5, 1, 14) + i * 33, format: 'BGRx', width: FW, height: FH,
        data: raw.subarray(i * frameBytes, (i + 1) * frameBytes), sourceWidth: W, sourceHeight: H };
      for (const d of await detector.detect(frame, { scoreThreshold: 0.3 })) {
        if (d.label !== 'person') continue;
        const emb = await embedder.embed(frame, d.box);
        const x = featureVector(emb, { label: d.label, score: d.score, box: d.box, sourceWidth: W, sourceHeight: H, rule: 'plaza', ts: frame.ts, utcOffsetMin: 0 });
        const falseAlarm = d.score < 0.45 || d.box[3] < 0.4 * H;
        all.push({ x, y: falseAlarm ? 0 : 1, frame: i, score: d.score, cx: (d.box[0] + d.box[2]) / 2 });
      }
    }
    await detector.close();
    await embedder.close();
    if (process.env['FL_DUMP']) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(process.env['FL_DUMP'], JSON.stringify(all.map((c) => ({ ...c, x: Array.from(c.x) }))));
    }
    const cut = frames * 0.6;
    const trainSet = all.filter((c) => c.frame < cut);
    const testSet = all.filter((c) => c.frame >= cut);
    const opts = { epochs: 100, learningRate: 0.5, l2: 1e-3, block: { dims: EMBEDDING_DIM, l2: 3e-2 }, batchSize: 32, seed: 1 };
    const central = train(zeroWeights(FEATURE_DIM), trainSet, opts);
    // Five cameras, each seeing one vertical strip of the plaza; FedAvg, 10 rounds × 10 local epochs.
    const strips = Array.from({ length: 5 }, (_, k) => trainSet.filter((c) => Math.min(4, Math.floor(c.cx / (W / 5))) === k));
    let w: Weights = zeroWeights(FEATURE_DIM);
    for (let r = 0; r < 10; r++) {
      const parts = strips.filter((s) => s.length > 0).map((s) => ({ delta: subtract(train(w, s, { ...opts, epochs: 10, seed: r + 1 }), w), samples: s.length }));
      const d = aggregate('fedavg', parts);
      w = w.map((v, i) => v + d[i]!);
    }
    const alone = strips.filter((s) => s.length > 0).map((s) => train(zeroWeights(FEATURE_DIM), s, opts));
    const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;
    const eval95 = (score: (c: Candidate) => number): string => {
      const r = reductionAt(testSet.map((c) => ({ s: score(c), y: c.y })), 0.95);
      return pct(r.reduction);
    };
    const nTrue = testSet.filter((c) => c.y === 1).length;
    process.stdout.write(`${all.length} person detections in ${Math.ceil(frames / STEP)} frames; train ${trainSet.length}, test ${testSet.length} ` +
      `(${nTrue} true, ${testSet.length - nTrue} false alarms); camera strips ${strips.map((s) => s.length).join('/')}\n\n`);
    const rows = [
      '| scorer | false alarms kept back at 95 % of true alarms passed |',
      '| --- | --- |',
      `| detector score alone | ${eval95((c) => c.score)} |`,
      `| verifier, trained centrally | ${eval95((c) => predict(central, c.x))} |`,
      `| verifier, FedAvg over 5 strip cameras, 10 rounds | ${eval95((c) => predict(w, c.x))} |`,
      ...alone.map((a, k) => `| verifier, camera ${k} alone | ${eval95((c) => predict(a, c.x))} |`),
    ];
    process.stdout.write(`${rows.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
