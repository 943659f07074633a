/**
 * How the hub combines the devices' deltas into the next global model. `fedavg` weights each delta
 * by its sample count (McMahan et al. 2017). The robust rules are coordinate-wise and ignore the
 * sample counts, so that one device claiming a huge count, or sending a poisoned delta, cannot steer
 * the model alone: `trimmed_mean` drops the highest and lowest `trim` fraction per coordinate,
 * `median` takes the middle value.
 */
export type AggregationRule = 'fedavg' | 'trimmed_mean' | 'median';

export interface Contribution {
  delta: Float64Array;
  samples: number;
}

export function aggregate(rule: AggregationRule, parts: readonly Contribution[], trim = 0.2): Float64Array {
  const first = parts[0];
  if (!first) throw new Error('nothing to aggregate');
  const len = first.delta.length;
  for (const p of parts) if (p.delta.length !== len) throw new Error(`delta length ${p.delta.length} differs from ${len}`);
  const out = new Float64Array(len);
  if (rule === 'fedavg') {
    const total = parts.reduce((s, p) => s + p.samples, 0);
    if (!(total > 0)) throw new Error('no samples to weight by');
    for (const p of parts) {
      const wt = p.samples / total;
      for (let i = 0; i < len; i++) out[i]! += wt * p.delta[i]!;
    }
    return out;
  }
  const n = parts.length;
  const cut = rule === 'median' ? 0 : Math.min(Math.floor(n * trim), Math.floor((n - 1) / 2));
  const column = new Float64Array(n);
  for (let i = 0; i < len; i++) {
    for (let k = 0; k < n; k++) column[k] = parts[k]!.delta[i]!;
    column.sort();
    if (rule === 'median') {
      out[i] = n % 2 === 1 ? column[(n - 1) / 2]! : (column[n / 2 - 1]! + column[n / 2]!) / 2;
    } else {
      let s = 0;
      for (let k = cut; k < n - cut; k++) s += column[k]!;
      out[i] = s / (n - 2 * cut);
    }
  }
  return out;
}
