/**
 * `tlb-flushes`: TLB flushes caused by page sharing for 20 heterogeneous unikernels over 60
 * simulated seconds, counted where the paper counted them (SoCC'22 poster figure: flushes "monitored
 * at hypervisor and KSM level"; the load-time path issues fewer than KSM; dedup.md §1.7: ftrace of
 * flush_tlb_* per task, `ksm` for ksmd, `vcpu` for the VM threads). Same FaaS model as dedup-faas.
 */
import { z } from 'zod';
import { Rng } from '../base/rng.ts';
import { readImageSet } from '../image/index.ts';
import { prepareImages, prepareSet, type ImageSet } from './dedup/images.ts';
import { runSharingConfig, SHARING_CONFIGS, type ConfigRun, type FaasModel, type SharingConfig } from './dedup/faas.ts';
import { faasDefaults, faasModelFields, faasModelOf, faasModelProblem } from './dedup-faas.ts';
import { coresProblem } from './dedup/cores.ts';
import { coreComparisons, coreSeries, coreSummary, coreTables } from './dedup/core-results.ts';
import type { Experiment, ExperimentResult } from './types.ts';

export const tlbFlushesSchema = z
  .object({
    instances: z.number().int().min(1).max(1000).describe('unikernels, one per demo application').meta({ unit: 'VMs', source: 'SoCC\'22 poster: 20 heterogeneous unikernels' }),
    applications: z.number().int().min(2).max(20).describe('demo applications the instances cycle through').meta({ unit: 'applications', source: 'SoCC\'22: 20 heterogeneous unikernels (demo/demo.json)' }),
    ...faasModelFields,
  })
  .strict();

export type TlbFlushesConfig = z.infer<typeof tlbFlushesSchema>;

/** KSM on the three image variants against the pool loader. */
const CONFIGS = SHARING_CONFIGS.filter((c) => c.ksm || c.loader === 'pool');

/** What runs, on either host (src/realhost runs it on this machine). */
export function describeTlbFlushes(config: TlbFlushesConfig, seed: number): { set: ImageSet; configs: readonly SharingConfig[]; model: FaasModel } {
  const variants = ['compact', 'dce', 'aligned', 'aligned-aslr'] as const;
  const set = config.images ? prepareSet(readImageSet(config.images), variants) : prepareImages(config.applications, 1, seed, variants);
  // A user's set may lack a variant (no DCE build): those configurations are left out.
  return { set, configs: CONFIGS.filter((c) => set.byVariant.has(c.variant)), model: faasModelOf(config) };
}

export const tlbFlushesExperiment: Experiment<typeof tlbFlushesSchema> = {
  name: 'tlb-flushes',
  title: 'TLB flushes caused by page sharing: KSM against the load-time pool loader',
  description:
    'Starts 20 different demo unikernels 0.1 s apart and runs them for 60 simulated seconds with the FaaS model of dedup-faas, under KSM (compact, DCE and aligned images, Linux defaults) and under the ' +
    'load-time pool loader (with and without ASLR). Counts every TLB flush of a VM\'s guest translations: those ksmd issues (write_protect_page and replace_page per merge, THP splits) and those taken ' +
    'by the VMs themselves (copy-on-write breaks of shared pages). Each VM\'s single vCPU runs its invocations on a core of the configured host (36 Ice Lake cores by default), so every flush ' +
    'drops that VM\'s entries from the core\'s TLBs and what the flushes cost is measured: TLB misses, walk cycles and core time per invocation. ' +
    'Compares with the SoCC\'22 poster figure on flushes under KSM and under the load-time path. ' +
    'With --host real the same description runs as unimem-vmm micro-VMs on this machine and flushes are counted with the tlb:tlb_flush tracepoint per task.',
  howToRead:
    'summary.flushesKsm is the total for aligned images with KSM, summary.flushesPool for the pool loader; the bar plot splits each configuration into flushes at ksmd and at the VMs. ' +
    'The cores table and summary.tlbMissesPerInvocationKsm / ...Pool give what the flushes cost: misses "on mapped pages" are walks of pages the EPT already maps (an entry flushed or evicted), ' +
    'the rest are first touches and copy-on-write breaks (EPT violations), which do not depend on flushes.',
  schema: tlbFlushesSchema,
  check: (c) => faasModelProblem(c) ?? coresProblem(c),
  work: (config) => ({ amount: config.instances * config.durationSec, unit: 'VM-seconds', fields: ['instances', 'durationSec'] }),
  defaults(quick: boolean): TlbFlushesConfig {
    return { instances: 20, applications: 20, ...faasDefaults(), durationSec: quick ? 30 : 60, launchPerSecond: 10 };
  },
  run(config, ctx): ExperimentResult {
    ctx.progress.phase('build demo images', 1);
    const { set, configs, model } = describeTlbFlushes(config, ctx.seed);
    ctx.progress.update(1);
    const rng = new Rng(ctx.seed).fork('tlb-flushes');
    const runs: ConfigRun[] = [];
    ctx.progress.phase('tlb-flushes', configs.length);
    for (const c of configs) {
      ctx.progress.update(runs.length, c.name);
      runs.push(runSharingConfig(set, c, model, rng.fork(c.name)));
    }
    ctx.progress.update(runs.length);
    return tlbFlushesResult(config, ctx.seed, ctx.quick ?? false, runs);
  },
};

/** The result of either host's runs: figures, and notes built from them. */
export function tlbFlushesResult(config: TlbFlushesConfig, seed: number, quick: boolean, runs: ConfigRun[]): ExperimentResult {
  const by = (name: string): ConfigRun | undefined => runs.find((r) => r.config.name === name);
  const total = (r: ConfigRun): number => r.flushesKsm + r.flushesVm;
  const aksm = by('aligned + KSM')!;
  const pool = by('pool loader')!;
  const compactKsm = by('compact + KSM');
  const poolAslr = by('pool loader + ASLR');
  const summary: Record<string, number> = {
    flushesKsm: total(aksm),
    flushesPool: total(pool),
    flushesKsmAtKsmd: aksm.flushesKsm,
    flushesKsmAtVms: aksm.flushesVm,
    // Configurations of variants a user's image set lacks are left out of the summary.
    ...(compactKsm ? { flushesCompactKsm: total(compactKsm) } : {}),
    ...(poolAslr ? { flushesPoolAslr: total(poolAslr) } : {}),
    ksmMerges: aksm.ksm?.merges ?? 0,
    ksmCpuMs: Math.round((aksm.ksm?.cpuNs ?? 0) / 1e6),
    ...coreSummary(runs, config.durationSec),
  };
  const poolCow = pool.cowBreaks;
  const fewer = summary.flushesPool < summary.flushesKsm ? 'fewer' : summary.flushesPool === summary.flushesKsm ? 'as many' : 'more';
  return {
    experiment: 'tlb-flushes',
    title: tlbFlushesExperiment.title,
    seed,
    quick,
    config,
    summary,
    comparisons: [
      { metric: 'TLB flushes, aligned + KSM', paper: 'more than the load-time path (poster figure; values not published)', ours: summary.flushesKsm, unit: 'flushes', note: `${config.instances} VMs, ${config.durationSec} s; ${aksm.flushesKsm} at ksmd, ${aksm.flushesVm} at the VMs; ${aksm.ksm?.merges ?? 0} merges, ${aksm.cowBreaks} COW breaks` },
      { metric: 'TLB flushes, pool loader', paper: 'fewer than KSM (poster)', ours: summary.flushesPool, unit: 'flushes', note: `${fewer} than aligned + KSM (${summary.flushesPool} against ${summary.flushesKsm}); ${pool.flushesKsm} at ksmd, ${pool.flushesVm} at the VMs, ${poolCow} COW breaks` },
      ...coreComparisons(runs, config.durationSec),
    ],
    tables: [
      {
        name: 'flushes',
        title: `TLB flushes over ${config.durationSec} s, ${config.instances} unikernels`,
        columns: ['configuration', 'at ksmd', 'at VMs', 'total', 'KSM merges', 'COW breaks', 'full scans', 'ksmd CPU ms'],
        rows: runs.map((r) => [r.config.name, r.flushesKsm, r.flushesVm, total(r), r.ksm?.merges ?? 0, r.cowBreaks, r.ksm?.fullScans ?? '-', r.ksm ? Math.round(r.ksm.cpuNs / 1e6) : 0]),
      },
      ...coreTables(runs, config.durationSec),
    ],
    series: [
      {
        name: 'flushes',
        title: 'TLB flushes per configuration',
        x: 'configuration',
        y: 'TLB flushes',
        yUnit: 'flushes',
        kind: 'bar',
        points: runs.flatMap((r) => [
          { series: 'at ksmd', x: r.config.name, y: r.flushesKsm },
          { series: 'at VMs', x: r.config.name, y: r.flushesVm },
        ]),
      },
      ...coreSeries(runs, config.durationSec),
    ],
  };
}
