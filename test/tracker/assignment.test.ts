import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssignmentSolver, minCostAssignment } from '../../daemon/analytics/tracker/assignment.js';

/** Deterministic generator, so that a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Least total cost over every way of pairing min(rows, cols) rows and columns. */
function bruteForce(cost: number[][]): number {
  const rows = cost.length;
  const cols = cost[0]!.length;
  const k = Math.min(rows, cols);
  let best = Infinity;
  const usedCols = new Array<boolean>(cols).fill(false);
  const go = (row: number, picked: number, sum: number): void => {
    if (picked === k) {
      best = Math.min(best, sum);
      return;
    }
    if (row === rows) return;
    // A row may stay unassigned only while enough rows remain to fill k pairs.
    if (rows - row - 1 >= k - picked) go(row + 1, picked, sum);
    for (let c = 0; c < cols; c++) {
      if (usedCols[c]) continue;
      usedCols[c] = true;
      go(row + 1, picked + 1, sum + cost[row]![c]!);
      usedCols[c] = false;
    }
  };
  go(0, 0, 0);
  return best;
}

function checkAssignment(cost: number[][], rowToCol: readonly number[]): number {
  const cols = cost[0]!.length;
  const used = new Set<number>();
  let total = 0;
  let pairs = 0;
  rowToCol.forEach((c, r) => {
    if (c < 0) return;
    assert.ok(c < cols, `row ${r} assigned to column ${c} of ${cols}`);
    assert.ok(!used.has(c), `column ${c} assigned twice`);
    used.add(c);
    total += cost[r]![c]!;
    pairs += 1;
  });
  assert.equal(pairs, Math.min(cost.length, cols), 'every row or every column is assigned');
  return total;
}

test('matches brute force on random square and rectangular matrices', () => {
  const random = rng(42);
  for (let trial = 0; trial < 400; trial++) {
    const rows = 1 + Math.floor(random() * 6);
    const cols = 1 + Math.floor(random() * 6);
    // Integer costs make ties common, which is where a wrong potential update shows.
    const integers = trial % 2 === 0;
    const cost = Array.from({ length: rows }, () => Array.from({ length: cols },
      () => (integers ? Math.floor(random() * 5) : random() * 10 - 3)));
    const got = checkAssignment(cost, minCostAssignment(cost));
    assert.ok(Math.abs(got - bruteForce(cost)) < 1e-9, `trial ${trial}: ${rows}×${cols} cost ${got}, best ${bruteForce(cost)}\n${JSON.stringify(cost)}`);
  }
});

test('one solver reused across sizes gives the same answers as fresh ones', () => {
  const random = rng(7);
  const solver = new AssignmentSolver();
  for (let trial = 0; trial < 100; trial++) {
    const rows = Math.floor(random() * 9);
    const cols = Math.floor(random() * 9);
    const cost = Array.from({ length: rows }, () => Array.from({ length: cols }, () => random()));
    const flat = Float64Array.from(cost.flat());
    const reused = Array.from(solver.solve(flat, rows, cols));
    assert.equal(reused.length, rows);
    if (rows > 0 && cols > 0) assert.ok(Math.abs(checkAssignment(cost, reused) - bruteForce(cost)) < 1e-9);
    else assert.ok(reused.every((c) => c === -1));
  }
});

test('picks the globally best pairing, not the greedy one', () => {
  // Greedy takes (0,0) at cost 1 and is then forced into (1,1) at 10; optimal is 2 + 2.
  assert.deepEqual(minCostAssignment([[1, 2], [2, 10]]), [1, 0]);
});

test('rejects a cost array shorter than rows × cols', () => {
  assert.throws(() => new AssignmentSolver().solve(new Float64Array(3), 2, 2), RangeError);
});
