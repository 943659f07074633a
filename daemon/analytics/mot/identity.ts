import { AssignmentSolver } from '../tracker/assignment.js';
import { iou } from '../tracker/iou.js';
import type { MotRow } from './format.js';

export interface IdentityCounts {
  idtp: number;
  idfp: number;
  idfn: number;
}

/**
 * Identity counts for IDF1 (Ristani et al. 2016): each ground-truth identity is paired with at
 * most one hypothesis identity for the whole sequence, choosing the pairing that maximises the
 * frames in which the paired boxes overlap by `threshold` IoU (IDTP). Every other ground-truth box
 * is an IDFN and every other hypothesis box an IDFP. Leaving an identity unpaired costs the same
 * as pairing it with one it never overlaps, so a plain maximum-weight assignment is exact.
 */
export function identityCounts(gtFrames: ReadonlyMap<number, readonly MotRow[]>, hypFrames: ReadonlyMap<number, readonly MotRow[]>,
  threshold = 0.5): IdentityCounts {
  const gtIndex = new Map<number, number>();
  const hypIndex = new Map<number, number>();
  let gtBoxes = 0;
  let hypBoxes = 0;
  for (const rows of gtFrames.values()) for (const r of rows) { gtBoxes += 1; if (!gtIndex.has(r.id)) gtIndex.set(r.id, gtIndex.size); }
  for (const rows of hypFrames.values()) for (const r of rows) { hypBoxes += 1; if (!hypIndex.has(r.id)) hypIndex.set(r.id, hypIndex.size); }
  const rows = gtIndex.size;
  const cols = hypIndex.size;
  if (rows === 0 || cols === 0) return { idtp: 0, idfp: hypBoxes, idfn: gtBoxes };

  const together = new Float64Array(rows * cols);
  for (const [f, gts] of gtFrames) {
    const hyps = hypFrames.get(f);
    if (!hyps) continue;
    for (const g of gts) {
      const gi = gtIndex.get(g.id)!;
      for (const h of hyps) if (iou(g.box, h.box) >= threshold) together[gi * cols + hypIndex.get(h.id)!]! += 1;
    }
  }
  // The solver minimises; negated overlap counts make it maximise IDTP.
  const cost = together.map((v) => -v);
  const assigned = new AssignmentSolver().solve(cost, rows, cols);
  let idtp = 0;
  assigned.forEach((j, i) => { if (j >= 0) idtp += together[i * cols + j]!; });
  return { idtp, idfp: hypBoxes - idtp, idfn: gtBoxes - idtp };
}
