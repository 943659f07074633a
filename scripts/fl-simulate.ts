/**
 * The federated simulation in one process, for figures that take too long for the test suite:
 * global (FedAvg) vs central vs device-alone accuracy, and accuracy against the DP budget ε.
 * Same model, clipping, noise, accounting and aggregation code as the daemon and the hub.
 *
 *   node dist/scripts/fl-simulate.js [--rounds 10] [--per-device 300] [--seeds 3] [--clip 5] [--epochs 10]
 *     [--lr 0.5] [--l2 1e-3] [--l2-embedding 3e-2] [--prox 0] [--server-lr 1]
 */
import { aggregate } from '../daemon/learning/aggregate.js';
import { EMBEDDING_DIM, FEATURE_DIM } from '../daemon/learning/features.js';
import { accuracy, seededRandom, subtract, train, zeroWeights, type Sample, type TrainOptions } from '../daemon/learning/model.js';
import { addNoiseInPlace, calibrateNoise, clipInPlace } from '../daemon/learning/privacy.js';
import { deviceData, heldOut, makeWorld } from '../test/learning/synthetic.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

const SERVER_LR = arg('server-lr', 1);

export interface SimOptions {
  devices: number;
  rounds: number;
  perDevice: number;
  seed: number;
  clip: number;
  train: TrainOptions;
  /** null: no DP. */
  epsilon: number | null;
  delta: number;
}

export interface SimResult {
  global: number;
  central: number;
  alone: number[];
}

export function simulate(o: SimOptions): SimResult {
  const world = makeWorld(o.seed, o.devices);
  const data = Array.from({ length: o.devices }, (_, d) => deviceData(world, d, o.perDevice, o.seed));
  const test = heldOut(world, o.devices, 400, o.seed + 1000);
  const z = o.epsilon === null ? 0 : calibrateNoise(o.epsilon, o.delta, o.rounds);
  const rand = seededRandom(o.seed + 99);
  let w = zeroWeights(FEATURE_DIM);
  for (let r = 0; r < o.rounds; r++) {
    const parts = data.map((samples) => {
      const delta = subtract(train(w, samples, { ...o.train, seed: r + 1 }), w);
      clipInPlace(delta, o.clip);
      if (z > 0) addNoiseInPlace(delta, z * o.clip, rand);
      return { delta, samples: samples.length };
    });
    const d = aggregate('fedavg', parts);
    w = w.map((v, i) => v + SERVER_LR * d[i]!);
  }
  const all: Sample[] = data.flat();
  const central = train(zeroWeights(FEATURE_DIM), all, { ...o.train, prox: 0, epochs: o.train.epochs * o.rounds });
  const alone = data.map((s) => accuracy(train(zeroWeights(FEATURE_DIM), s, { ...o.train, prox: 0, epochs: o.train.epochs * o.rounds }), test) ?? 0);
  return { global: accuracy(w, test) ?? 0, central: accuracy(central, test) ?? 0, alone };
}

if (process.argv[1]?.endsWith('fl-simulate.js')) {
  const base: SimOptions = {
    devices: 5, rounds: arg('rounds', 10), perDevice: arg('per-device', 300), seed: 1, clip: arg('clip', 5),
    train: { epochs: arg('epochs', 10), learningRate: arg('lr', 0.5), l2: arg('l2', 1e-3), batchSize: 32, seed: 1, prox: arg('prox', 0),
      block: { dims: EMBEDDING_DIM, l2: arg('l2-embedding', 3e-2) } }, epsilon: null, delta: 1e-5,
  };
  const seeds = arg('seeds', 3);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;
  const rows: string[] = ['| ε (δ = 1e-5, 10 rounds) | noise multiplier z | global accuracy |', '| --- | --- | --- |'];
  let first: SimResult[] = [];
  for (const eps of [null, 1000, 100, 30, 10, 3, 1]) {
    const runs = Array.from({ length: seeds }, (_, s) => simulate({ ...base, seed: s + 1, epsilon: eps }));
    if (eps === null) first = runs;
    const z = eps === null ? 0 : calibrateNoise(eps, base.delta, base.rounds);
    rows.push(`| ${eps === null ? '∞ (no DP)' : eps} | ${z.toFixed(2)} | ${pct(mean(runs.map((r) => r.global)))} |`);
  }
  process.stdout.write(`seeds ${seeds}, devices ${base.devices}, ${base.perDevice} events each, clip ${base.clip}\n`);
  process.stdout.write(`central ${pct(mean(first.map((r) => r.central)))}, federated ${pct(mean(first.map((r) => r.global)))}, ` +
    `device alone (mean) ${pct(mean(first.map((r) => mean(r.alone))))}\n\n${rows.join('\n')}\n`);
}
