import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aggregate } from '../../daemon/learning/aggregate.js';
import { calibrateNoise, clipInPlace, epsilonSpent } from '../../daemon/learning/privacy.js';
import { accuracy, seededRandom, train, zeroWeights, type Sample } from '../../daemon/learning/model.js';
import { trainInWorker } from '../../daemon/learning/trainer.js';
import { gaussian } from '../../daemon/learning/privacy.js';

test('Rényi accounting of the Gaussian mechanism matches the closed form worked by hand', () => {
  // z = 1, one release, δ = 1e-5: min over α of α/2 + ln(1e5)/(α−1); at α = 6 that is 3 + 2.3026.
  assert.ok(Math.abs(epsilonSpent([1], 1e-5) - 5.3026) < 1e-3, String(epsilonSpent([1], 1e-5)));
  // Composition: four releases at z = 2 cost what one at z = 1 does (Σ 1/(2z²) is the same).
  assert.ok(Math.abs(epsilonSpent([2, 2, 2, 2], 1e-5) - epsilonSpent([1], 1e-5)) < 1e-9);
  assert.equal(epsilonSpent([], 1e-5), 0);
  assert.equal(epsilonSpent([1, 0], 1e-5), Infinity, 'a release without noise has no finite ε');
  for (const [eps, rounds] of [[1, 10], [8, 50], [100, 10]] as const) {
    const z = calibrateNoise(eps, 1e-5, rounds);
    const spent = epsilonSpent(Array.from({ length: rounds }, () => z), 1e-5);
    assert.ok(spent <= eps && spent > eps * 0.99, `ε ${eps}, ${rounds} rounds: z ${z} spends ${spent}`);
  }
});

test('clipping bounds the L2 norm and leaves short vectors alone', () => {
  const v = Float64Array.from([3, 4]);
  assert.equal(clipInPlace(v, 1), 5);
  assert.deepEqual([...v].map((x) => Number(x.toFixed(6))), [0.6, 0.8]);
  const w = Float64Array.from([0.3, 0.4]);
  clipInPlace(w, 1);
  assert.deepEqual([...w], [0.3, 0.4]);
});

test('trimmed mean and median shrug off one poisoned device that FedAvg follows', () => {
  const honest = [0.9, 1.0, 1.1, 1.05].map((v) => ({ delta: Float64Array.from([v, -v]), samples: 100 }));
  const poisoned = { delta: Float64Array.from([1000, 1000]), samples: 10_000 };
  const parts = [...honest, poisoned];
  assert.ok(aggregate('fedavg', parts)[0]! > 900);
  assert.ok(Math.abs(aggregate('trimmed_mean', parts)[0]! - 1.05) < 0.06);
  assert.equal(aggregate('median', parts)[0], 1.05);
  assert.equal(aggregate('median', parts)[1], -1);
  // FedAvg weights by samples.
  assert.deepEqual([...aggregate('fedavg', [{ delta: Float64Array.from([1]), samples: 1 }, { delta: Float64Array.from([4]), samples: 3 }])], [3.25]);
});

test('logistic regression learns a separable rule, and the worker thread gives the same weights as the main thread', async () => {
  const rand = seededRandom(5);
  const samples: Sample[] = Array.from({ length: 400 }, (): Sample => {
    const x = [gaussian(rand), gaussian(rand), gaussian(rand)];
    return { x, y: (x[0]! - 0.5 * x[1]! > 0.2 ? 1 : 0) };
  });
  const opts = { epochs: 30, learningRate: 0.5, l2: 0, batchSize: 32, seed: 3 };
  const w = train(zeroWeights(3), samples, opts);
  assert.ok(accuracy(w, samples)! > 0.95, `accuracy ${accuracy(w, samples)}`);
  assert.ok(w[0]! > 0 && w[1]! < 0 && Math.abs(w[2]!) < Math.abs(w[1]!));
  const fromWorker = await trainInWorker(zeroWeights(3), samples, opts);
  // Features cross to the worker as float32; the weights agree to float32 precision.
  fromWorker.forEach((v, i) => assert.ok(Math.abs(v - w[i]!) < 1e-3, `weight ${i}: ${v} vs ${w[i]}`));
});
