/** Small statistics helpers shared by experiments, benchmarks and reports. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let t = 0;
  for (const v of values) t += v;
  return t / values.length;
}

export function sum(values: readonly number[]): number {
  let t = 0;
  for (const v of values) t += v;
  return t;
}

/** a / b, or 0 when b is 0 (ratios of counters that may be empty). */
export function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

/** Relative reduction of `value` against `baseline`: 0.5 means 50% less. */
export function reduction(baseline: number, value: number): number {
  return baseline === 0 ? 0 : (baseline - value) / baseline;
}

/** Relative speed-up of `value` against `baseline`: 0.5 means 50% more. */
export function speedup(baseline: number, value: number): number {
  return baseline === 0 ? 0 : value / baseline - 1;
}

/** Round to a fixed number of significant decimals so JSON output is stable and readable. */
export function round(v: number, digits = 4): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
