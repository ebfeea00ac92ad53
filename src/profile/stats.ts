/** Order statistics for benchmark and profiler samples. */

export interface Dist {
  readonly n: number;
  readonly mean: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** The q-quantile (0..1) of ascending `sorted`, interpolated linearly between order statistics. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (n === 1) return sorted[0]!;
  const pos = Math.min(1, Math.max(0, q)) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Sorts a copy (NaN dropped) and summarizes it. */
export function summarize(samples: ArrayLike<number>): Dist {
  const sorted = sortedCopy(samples);
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    n,
    mean: n > 0 ? sum / n : Number.NaN,
    min: n > 0 ? sorted[0]! : Number.NaN,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: n > 0 ? sorted[n - 1]! : Number.NaN,
  };
}

export function sortedCopy(samples: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < samples.length; i++) if (!Number.isNaN(samples[i]!)) n++;
  const out = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]!;
    if (!Number.isNaN(v)) out[k++] = v;
  }
  return out.sort();
}

/**
 * At most `max` values that keep the shape of a distribution: evenly spaced quantiles of the
 * samples (all of them when there are few). For charts and JSON files that stay small.
 */
export function quantileSketch(samples: ArrayLike<number>, max: number): number[] {
  const sorted = sortedCopy(samples);
  if (sorted.length <= max) return Array.from(sorted);
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(quantile(sorted, k / (max - 1)));
  return out;
}

/** Rounds to `digits` significant digits (for JSON files people read). */
export function sig(v: number, digits = 4): number {
  if (!Number.isFinite(v) || v === 0) return v;
  return Number(v.toPrecision(digits));
}
