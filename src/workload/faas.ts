/**
 * FaaS invocation arrivals for the page-sharing experiments: a Poisson process of invocations at a
 * configurable rate, each of one function from a catalogue chosen by weight, each with that
 * function's working-set size (optionally jittered uniformly by +-`jitter`).
 *
 * Poisson arrivals (exponential inter-arrival times) are the usual open-loop model for invocation
 * streams; the Azure Functions trace (Shahrad et al., "Serverless in the Wild", USENIX ATC 2020)
 * shows per-function rates spanning many orders of magnitude and allocated memory of about
 * 100-400 MB for most applications, which is the range the default catalogue spans. The catalogue
 * below is illustrative, not measured: pass your own for an experiment.
 */
import { UserError } from '../base/errors.ts';
import type { Rng } from '../base/rng.ts';
import { MiB } from '../base/units.ts';

export interface FaasFunction {
  name: string;
  /** Relative invocation frequency. */
  weight: number;
  /** Bytes the function touches per invocation. */
  workingSetBytes: number;
}

export interface FaasConfig {
  /** Mean invocations per second over all functions. */
  ratePerSecond: number;
  /** Uniform relative jitter of the working set, in [0, 1). */
  jitter: number;
  functions: FaasFunction[];
}

export const FAAS_DEFAULTS: Readonly<FaasConfig> = {
  ratePerSecond: 100,
  jitter: 0.1,
  functions: [
    { name: 'hello', weight: 6, workingSetBytes: MiB(16) },
    { name: 'thumbnail', weight: 3, workingSetBytes: MiB(128) },
    { name: 'analytics', weight: 1, workingSetBytes: MiB(384) },
  ],
};

/** One invocation, overwritten in place by `next`. */
export class Invocation {
  /** Arrival time in nanoseconds since the start. */
  timeNs = 0;
  /** Index into the catalogue. */
  fn = 0;
  workingSetBytes = 0;
}

export function validateFaasConfig(c: FaasConfig): void {
  if (!(c.ratePerSecond > 0 && Number.isFinite(c.ratePerSecond))) {
    throw new UserError(`faas.ratePerSecond: must be a positive number, got ${c.ratePerSecond}`);
  }
  if (!(c.jitter >= 0 && c.jitter < 1)) throw new UserError(`faas.jitter: must be in [0, 1), got ${c.jitter}`);
  if (c.functions.length === 0) throw new UserError('faas.functions: the catalogue is empty');
  c.functions.forEach((f, i) => {
    if (!(f.weight > 0)) throw new UserError(`faas.functions[${i}].weight: must be positive, got ${f.weight}`);
    if (!(f.workingSetBytes >= 1)) {
      throw new UserError(`faas.functions[${i}].workingSetBytes: must be at least 1, got ${f.workingSetBytes}`);
    }
  });
}

export class FaasArrivals {
  readonly config: Readonly<FaasConfig>;
  private readonly rng: Rng;
  private readonly meanGapNs: number;
  private readonly cumulative: Float64Array;
  private readonly sizes: Float64Array;
  private clockNs = 0;

  constructor(config: FaasConfig, rng: Rng) {
    validateFaasConfig(config);
    this.config = { ...config, functions: config.functions.map((f) => ({ ...f })) };
    this.rng = rng;
    this.meanGapNs = 1e9 / config.ratePerSecond;
    const n = config.functions.length;
    this.cumulative = new Float64Array(n);
    this.sizes = new Float64Array(n);
    let total = 0;
    for (const f of config.functions) total += f.weight;
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += config.functions[i].weight / total;
      this.cumulative[i] = acc;
      this.sizes[i] = config.functions[i].workingSetBytes;
    }
    this.cumulative[n - 1] = 1;
  }

  /** Fill `inv` with the next arrival. */
  next(inv: Invocation): void {
    this.clockNs += this.rng.nextExponential(this.meanGapNs);
    inv.timeNs = this.clockNs;
    const u = this.rng.nextFloat();
    let fn = 0;
    while (u >= this.cumulative[fn]) fn++;
    inv.fn = fn;
    const j = this.config.jitter;
    const scale = j === 0 ? 1 : 1 + j * (2 * this.rng.nextFloat() - 1);
    inv.workingSetBytes = Math.max(1, Math.round(this.sizes[fn] * scale));
  }
}

export function createFaasArrivals(rng: Rng, overrides: Partial<FaasConfig> = {}): FaasArrivals {
  return new FaasArrivals({ ...FAAS_DEFAULTS, ...overrides }, rng);
}
