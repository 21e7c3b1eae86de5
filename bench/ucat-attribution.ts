/**
 * How each part of the machine model moves the UCat figures: the quick `ucat` run (same seed) with
 * the full model, then with one mechanism taken out at a time (leave one out). Not part of
 * `npm run bench` (it measures results, not speed); run it by hand:
 *
 *   node --import tsx bench/ucat-attribution.ts [seed] [variant index (-1: all)] [trace|model]
 *
 * The workload defaults to the experiment's (trace: the captured traces, taken from the cache or
 * captured first, as `unimem run ucat` does); `model` runs the store models.
 *
 * Mechanisms are taken out through the presets, so the code paths are the model's own:
 * - time-sliced cores: as many cores as VMs (each vCPU alone on its core, no switches, no shared
 *   TLBs or private caches), with the per-core LLC slice scaled so that the host's LLC keeps its
 *   size;
 * - memory-level parallelism: `beginIndependent` brackets ignored (every miss dependent);
 * - stream prefetcher: no streams tracked;
 * - write-back cost: unlimited write bandwidth (write-backs still counted, free);
 * - LLC size: the former 16 MiB shared LLC instead of 1.5 MiB per core.
 * docs/machine.md and docs/ucat-experiment.md quote its output.
 */
import { silentProgress } from '../src/base/progress.ts';
import { nodeSystem } from '../src/base/system.ts';
import { CPU_PRESETS, type CpuPreset } from '../src/hw/cpu.ts';
import { TIER_PRESETS, type TierPreset } from '../src/hw/tiers.ts';
import { VCpu } from '../src/hw/vcpu.ts';
import { ucatExperiment, type UcatConfig } from '../src/experiments/ucat.ts';

const seed = Number(process.argv[2] ?? 1);
/** Run one variant only (its index), e.g. to run them side by side. */
const only = process.argv[3] === undefined ? -1 : Number(process.argv[3]);
const workload = process.argv[4] === 'model' ? 'model' : 'trace';
const base: UcatConfig = { ...ucatExperiment.defaults(true), workload };
// The traces do not depend on the machine model: prepared once for every variant.
const inputs = await ucatExperiment.prepare!(base, { sys: nodeSystem(), progress: silentProgress });
const cpuName = base.cpu;
const originalCpu: CpuPreset = CPU_PRESETS[cpuName];
const originalTiers: Record<string, TierPreset> = { ...TIER_PRESETS };
const originalBegin = VCpu.prototype.beginIndependent;

interface Variant {
  name: string;
  apply(): UcatConfig;
}

const MiB = 1024 * 1024;

const variants: Variant[] = [
  { name: 'full model', apply: () => base },
  {
    name: 'without time-sliced cores',
    apply: () => {
      const llc = originalCpu.llc!;
      CPU_PRESETS[cpuName] = { ...originalCpu, llc: { ...llc, bytes: (llc.bytes * base.cores) / base.vms } };
      return { ...base, cores: base.vms };
    },
  },
  {
    name: 'without memory-level parallelism',
    apply: () => {
      VCpu.prototype.beginIndependent = function () {};
      return base;
    },
  },
  {
    name: 'without stream prefetcher',
    apply: () => {
      CPU_PRESETS[cpuName] = { ...originalCpu, prefetchStreams: 0 };
      return base;
    },
  },
  {
    name: 'without write-back cost',
    apply: () => {
      for (const [k, t] of Object.entries(originalTiers)) TIER_PRESETS[k] = { ...t, hostWriteGBps: Number.POSITIVE_INFINITY };
      return base;
    },
  },
  {
    name: 'with the former 16 MiB LLC',
    apply: () => {
      CPU_PRESETS[cpuName] = { ...originalCpu, llc: { bytes: (16 * MiB) / base.cores, ways: 16, latency: originalCpu.llc!.latency, scope: 'per-core' } };
      return base;
    },
  },
];

const KEYS = ['memslapSpeedup', 'ycsbSpeedup', 'tlbMpkaOsv', 'memslapTranslationShareOsv', 'memslapDataShareOsv', 'ycsbNvmLineShareOsv'] as const;

function restore(): void {
  CPU_PRESETS[cpuName] = originalCpu;
  Object.assign(TIER_PRESETS, originalTiers);
  VCpu.prototype.beginIndependent = originalBegin;
}

const header = ['variant', ...KEYS, 'memslapHostOps osv', 'memslapHostOps ucat', 'ycsbHostOps osv', 'ycsbHostOps ucat'];
if (only < 0) process.stdout.write(header.join('\t') + '\n');
for (const v of variants.filter((_, i) => only < 0 || i === only)) {
  const config = v.apply();
  try {
    const r = ucatExperiment.run(config, { seed, progress: silentProgress, inputs });
    const t = r.tables.find((x) => x.name === 'configurations')!;
    const cell = (row: string, col: string) => t.rows.find((x) => x[0] === row)![t.columns.indexOf(col)];
    const out = [v.name, ...KEYS.map((k) => r.summary[k]), cell('osv', 'memslapHostOps'), cell('ucat', 'memslapHostOps'), cell('osv', 'ycsbHostOps'), cell('ucat', 'ycsbHostOps')];
    process.stdout.write(out.join('\t') + '\n');
  } finally {
    restore();
  }
}
