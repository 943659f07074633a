/**
 * Minimum-cost rectangular assignment: the shortest-augmenting-path form of the Hungarian method
 * with row and column potentials, O(r²·c) for r ≤ c. Both the tracker (every frame) and the MOT
 * evaluator (per frame and once for identities) solve through this one file.
 *
 * The solver keeps its buffers between calls: a tracker calls it several times per frame, and
 * growing arrays once is cheaper than allocating them per call on a device that runs for months.
 */
export class AssignmentSolver {
  private u = new Float64Array(0);
  private v = new Float64Array(0);
  private minSlack = new Float64Array(0);
  private colOwner = new Int32Array(0);
  private via = new Int32Array(0);
  private visited = new Uint8Array(0);
  private transposed = new Float64Array(0);
  private result = new Int32Array(0);

  /**
   * Assigns each row of a row-major `rows × cols` cost matrix to at most one column so that the
   * total cost is least and min(rows, cols) pairs are made. Costs must be finite: callers gate
   * forbidden pairs with a large cost and drop such pairs afterwards.
   *
   * Returns, per row, its column or -1. The array is the solver's own and is overwritten by the
   * next call; copy it to keep it.
   */
  solve(cost: ArrayLike<number>, rows: number, cols: number): Int32Array {
    if (cost.length < rows * cols) throw new RangeError(`cost matrix has ${cost.length} entries, expected ${rows * cols}`);
    if (this.result.length < rows) this.result = new Int32Array(Math.max(rows, 2 * this.result.length));
    const result = this.result.subarray(0, rows);
    result.fill(-1);
    if (rows === 0 || cols === 0) return result;
    if (rows <= cols) {
      this.solveWide(cost, rows, cols);
      for (let j = 1; j <= cols; j++) {
        const r = this.colOwner[j]!;
        if (r > 0) result[r - 1] = j - 1;
      }
      return result;
    }
    // The method needs no more rows than columns, so solve the transpose and read it backwards.
    if (this.transposed.length < rows * cols) this.transposed = new Float64Array(rows * cols);
    const t = this.transposed;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = cost[i * cols + j]!;
    this.solveWide(t, cols, rows);
    for (let j = 1; j <= rows; j++) {
      const c = this.colOwner[j]!;
      if (c > 0) result[j - 1] = c - 1;
    }
    return result;
  }

  /** Solves for rows ≤ cols; afterwards colOwner[j] (1-based) is the row owning column j, or 0. */
  private solveWide(cost: ArrayLike<number>, rows: number, cols: number): void {
    this.reserve(rows, cols);
    const { u, v, minSlack, colOwner, via, visited } = this;
    u.fill(0, 0, rows + 1);
    v.fill(0, 0, cols + 1);
    colOwner.fill(0, 0, cols + 1);
    // Index 0 is a virtual column from which each new row starts its augmenting path.
    for (let row = 1; row <= rows; row++) {
      colOwner[0] = row;
      let col = 0;
      minSlack.fill(Infinity, 0, cols + 1);
      visited.fill(0, 0, cols + 1);
      do {
        visited[col] = 1;
        const owner = colOwner[col]!;
        const base = (owner - 1) * cols;
        let delta = Infinity;
        let next = 0;
        for (let j = 1; j <= cols; j++) {
          if (visited[j]) continue;
          const slack = cost[base + j - 1]! - u[owner]! - v[j]!;
          if (slack < minSlack[j]!) {
            minSlack[j] = slack;
            via[j] = col;
          }
          if (minSlack[j]! < delta) {
            delta = minSlack[j]!;
            next = j;
          }
        }
        // Shifting potentials by the smallest slack keeps every reduced cost ≥ 0 and makes
        // at least one more column reachable along zero-cost edges.
        for (let j = 0; j <= cols; j++) {
          if (visited[j]) {
            u[colOwner[j]!] = u[colOwner[j]!]! + delta;
            v[j] = v[j]! - delta;
          } else {
            minSlack[j] = minSlack[j]! - delta;
          }
        }
        col = next;
      } while (colOwner[col] !== 0);
      // Flip the alternating path back to the virtual column.
      while (col !== 0) {
        const prev = via[col]!;
        colOwner[col] = colOwner[prev]!;
        col = prev;
      }
    }
  }

  private reserve(rows: number, cols: number): void {
    if (this.u.length <= rows) this.u = new Float64Array(2 * (rows + 1));
    if (this.v.length <= cols) {
      const n = 2 * (cols + 1);
      this.v = new Float64Array(n);
      this.minSlack = new Float64Array(n);
      this.colOwner = new Int32Array(n);
      this.via = new Int32Array(n);
      this.visited = new Uint8Array(n);
    }
  }
}

/** Convenience for callers outside the per-frame path: a fresh solver, a copied result. */
export function minCostAssignment(cost: readonly (readonly number[])[]): number[] {
  const rows = cost.length;
  const cols = rows === 0 ? 0 : cost[0]!.length;
  const flat = new Float64Array(rows * cols);
  cost.forEach((row, i) => {
    if (row.length !== cols) throw new RangeError(`row ${i} has ${row.length} columns, expected ${cols}`);
    flat.set(row, i * cols);
  });
  return Array.from(new AssignmentSolver().solve(flat, rows, cols));
}
