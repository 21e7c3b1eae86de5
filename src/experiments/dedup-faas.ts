/**
 * `dedup-faas`: host memory of up to 1000 FaaS unikernels started back to back, under six ways of
 * sharing pages (SoCC'22 "Want More Unikernels? Inflate Them!", poster figure "physical memory of
 * 1000 FaaS unikernels (+hypervisor)": the load-time path lowest, aligned + KSM next, DCE and
 * default highest, "up to 3x"; research/dedup.md §1.7). Model: src/experiments/dedup/faas.ts.
 */
import { z } from 'zod';
import { Rng } from '../base/rng.ts';
import { ratio, round } from '../base/stats.ts';
import { KSM_DEFAULTS } from '../host/index.ts';
import { prepareImages, type ImageSet } from './dedup/images.ts';
import { runSharingConfig, SHARING_CONFIGS, type ConfigRun, type FaasModel, type SharingConfig } from './dedup/faas.ts';
import type { ConfigProblem, Experiment, ExperimentResult } from './types.ts';

export const faasModelFields = {
  applications: z.number().int().min(2).max(22).describe('demo applications the instances cycle through').meta({ unit: 'applications', source: 'SoCC\'22: 20 heterogeneous unikernels; demo/demo.json has 22' }),
  durationSec: z.number().int().min(1).max(3600).describe('simulated time').meta({ unit: 's', source: 'dedup.md §1.7: memory measured 30-60 s after the last launch' }),
  launchPerSecond: z.number().positive().max(10000).describe('VMs started per second, back to back').meta({ unit: 'VMs/s', source: 'Firecracker design doc: 5 microVMs per host core per second, 180/s on 36 cores (dedup.md §6)' }),
  vmMemoryMiB: z.number().int().min(4).max(1024).describe('guest RAM per VM').meta({ unit: 'MiB', source: 'dedup.md §1.7: 10-16 MiB in the SoCC\'22 examples' }),
  heapInitKiB: z.number().int().min(0).max(65536).describe('heap written at boot with per-instance content').meta({ unit: 'KiB', source: 'assumption: allocator metadata and initialised data of a small unikernel' }),
  stackKiB: z.number().int().min(0).max(65536).describe('stack written at boot').meta({ unit: 'KiB', source: 'assumption: one 64 KiB thread stack (Unikraft default stack is 64 KiB)' }),
  invocationsPerSecond: z.number().min(0.001).max(1000).describe('mean invocations per second per instance (Poisson)').meta({ unit: '1/s', source: 'assumption; Azure Functions trace (Shahrad et al. ATC\'20): most functions are invoked rarely' }),
  workingSetsKiB: z.array(z.number().int().min(4).max(1 << 20)).min(1).describe('working set written per invocation, per application (cycled)').meta({ unit: 'KiB', source: 'assumption: small functions that fit a 16 MiB unikernel (Unikraft: 2-6 MB suffice, dedup.md §5)' }),
  jitter: z.number().min(0).lt(1).describe('uniform relative jitter of the working set').meta({ source: 'src/workload/faas.ts default 0.1' }),
  vmmOverheadMiB: z.number().min(0).max(1024).describe('host memory of each VM\'s VMM process (without guest memory)').meta({ unit: 'MiB', source: 'measured: unimem-vmm\'s private memory outside guest RAM, 40 KiB per VM (smaps, median of 8 VMs; npm run bench -- --only realhost; docs/realhost.md). Firecracker: about 3 MB (NSDI\'20), at most 5 MiB (SPECIFICATION.md, dedup.md §6)' }),
  pagesToScan: z.number().int().min(1).max(100000).describe('KSM pages_to_scan').meta({ unit: 'pages', source: 'Linux default 100, used by the SoCC\'22 scripts (dedup.md §1.6)' }),
  sleepMillisecs: z.number().int().min(0).max(10000).describe('KSM sleep_millisecs').meta({ unit: 'ms', source: 'Linux default 20, used by the SoCC\'22 scripts (dedup.md §1.6)' }),
  maxPageSharing: z.number().int().min(2).max(65535).describe('KSM max_page_sharing').meta({ unit: 'mappings', source: 'Linux default 256 (dedup.md §1.6)' }),
  useZeroPages: z.boolean().describe('KSM use_zero_pages').meta({ source: 'Linux default 0, used by the SoCC\'22 scripts (dedup.md §1.6)' }),
  bssAtBoot: z.enum(['all', 'none']).optional().describe('bss pages touched at boot: all (zero-filled) or none (left to the guest\'s own writes, which the model does not know)').meta({ source: 'choice, default all; the real host shows what a guest touches (docs/realhost.md)' }),
  stepMs: z.number().int().min(1).max(1000).describe('simulation step interleaving invocations and ksmd').meta({ unit: 'ms', source: 'choice: one ksmd period (sleep_millisecs)' }),
};

export const dedupFaasSchema = z
  .object({
    instances: z.number().int().min(1).max(20000).describe('FaaS unikernel instances').meta({ unit: 'VMs', source: 'SoCC\'22 poster: 1000 FaaS unikernels' }),
    aslrInstances: z.number().int().min(1).max(8).describe('randomised ASLR images per application (instances cycle through them)').meta({ unit: 'images', source: 'dedup.md §1.7: one ASLR image per instance in the paper; capped here by build time' }),
    ...faasModelFields,
  })
  .strict();

export type DedupFaasConfig = z.infer<typeof dedupFaasSchema>;

export function faasModelOf(c: Omit<DedupFaasConfig, 'aslrInstances' | 'applications'>): FaasModel {
  return {
    instances: c.instances,
    durationSec: c.durationSec,
    launchPerSecond: c.launchPerSecond,
    vmMemoryMiB: c.vmMemoryMiB,
    heapInitKiB: c.heapInitKiB,
    stackKiB: c.stackKiB,
    invocationsPerSecond: c.invocationsPerSecond,
    workingSetsKiB: c.workingSetsKiB,
    jitter: c.jitter,
    vmmOverheadMiB: c.vmmOverheadMiB,
    ksm: { pagesToScan: c.pagesToScan, sleepMillisecs: c.sleepMillisecs, maxPageSharing: c.maxPageSharing, useZeroPages: c.useZeroPages },
    stepMs: c.stepMs,
    bssAtBoot: c.bssAtBoot,
  };
}

/**
 * Guest-physical memory below the heap that the demo images take (the largest, aligned nginx,
 * ends near 2.1 MiB; 4 MiB leaves room for the applications the spec may add).
 */
export const FAAS_IMAGE_ALLOWANCE_MIB = 4;

/** Cross-field limits of the FaaS model (shared by every experiment that runs it). */
export function faasModelProblem(c: Omit<DedupFaasConfig, 'instances' | 'aslrInstances' | 'applications'>): ConfigProblem | undefined {
  if (c.launchPerSecond * c.durationSec < 1) {
    return { field: 'launchPerSecond', problem: `${c.launchPerSecond} VMs/s starts no VM after the first within durationSec ${c.durationSec} s; give at least ${1 / c.durationSec} VMs/s` };
  }
  const bootKiB = c.heapInitKiB + c.stackKiB;
  const roomKiB = (c.vmMemoryMiB - FAAS_IMAGE_ALLOWANCE_MIB) * 1024;
  if (bootKiB > roomKiB) {
    return { field: 'heapInitKiB', problem: `heapInitKiB + stackKiB (${bootKiB} KiB) do not fit in vmMemoryMiB ${c.vmMemoryMiB} beside the image (${FAAS_IMAGE_ALLOWANCE_MIB} MiB); at most ${Math.max(0, roomKiB)} KiB` };
  }
  return undefined;
}

export function faasDefaults(): Omit<DedupFaasConfig, 'instances' | 'durationSec' | 'aslrInstances' | 'applications'> {
  return {
    launchPerSecond: 180,
    vmMemoryMiB: 16,
    heapInitKiB: 256,
    stackKiB: 64,
    invocationsPerSecond: 0.2,
    workingSetsKiB: [128, 512, 1024, 256],
    jitter: 0.1,
    vmmOverheadMiB: 0.04,
    pagesToScan: KSM_DEFAULTS.pagesToScan,
    sleepMillisecs: KSM_DEFAULTS.sleepMillisecs,
    maxPageSharing: KSM_DEFAULTS.maxPageSharing,
    useZeroPages: KSM_DEFAULTS.useZeroPages,
    stepMs: 20,
  };
}

const mib = (b: number): number => round(b / 1048576, 1);

export const dedupFaasExperiment: Experiment<typeof dedupFaasSchema> = {
  name: 'dedup-faas',
  title: 'Page sharing for FaaS unikernels: KSM on compact, DCE and aligned images against the load-time pool loader',
  description:
    'Starts up to 1000 FaaS unikernels back to back from the demo images (real gcc/ld builds) on one simulated host and samples host memory every simulated second ' +
    '(frames counted once however many VMs map them, plus the per-VM VMM overhead measured from unimem-vmm) for six configurations: no sharing; compact, dead-code-eliminated and library-aligned images ' +
    'with KSM (Linux defaults, 100 pages every 20 ms); the load-time loader that maps a library pool built from description files; and the same with per-instance ASLR images. ' +
    'Also the load work per instance (pages copied against pages mapped). Reproduces SoCC\'22: aligned images with KSM and a library pool use up to 3x less memory.',
  howToRead:
    'The memory plot shows how each configuration grows as VMs start and then what KSM wins back over time; the pool loader shares from the first instant. ' +
    'summary.poolVsNoSharing, poolVsCompactKsm and alignedKsmVsCompactKsm are end-of-run memory ratios (above 1: the first uses less). ' +
    'The "converged" columns show what KSM would reach if it could finish two more full scans with the VMs frozen: at the default scan rate KSM falls far behind 1000 VMs.',
  schema: dedupFaasSchema,
  check: faasModelProblem,
  defaults(quick: boolean): DedupFaasConfig {
    return { instances: quick ? 100 : 1000, durationSec: quick ? 30 : 120, aslrInstances: quick ? 1 : 3, applications: 20, ...faasDefaults() };
  },
  run(config, ctx): ExperimentResult {
    ctx.progress.phase('build demo images', 1);
    const { set, configs, model } = describeDedupFaas(config, ctx.seed);
    ctx.progress.update(1);
    const rng = new Rng(ctx.seed).fork('dedup-faas');
    const runs: ConfigRun[] = [];
    ctx.progress.phase('dedup-faas', configs.length);
    for (const c of configs) {
      ctx.progress.update(runs.length, c.name);
      runs.push(runSharingConfig(set, c, model, rng.fork(c.name)));
    }
    ctx.progress.update(runs.length);
    return dedupResult(config, ctx.seed, runs, set.byteConfirmedPages);
  },
};

/** What runs, on either host: images, configurations compared, the FaaS model (src/realhost runs it on this machine). */
export function describeDedupFaas(config: DedupFaasConfig, seed: number): { set: ImageSet; configs: readonly SharingConfig[]; model: FaasModel } {
  return { set: prepareImages(config.applications, config.aslrInstances, seed, ['compact', 'dce', 'aligned', 'aligned-aslr']), configs: SHARING_CONFIGS, model: faasModelOf(config) };
}

export function dedupResult(config: DedupFaasConfig, seed: number, runs: ConfigRun[], byteConfirmed: number): ExperimentResult {
  const by = (name: string): ConfigRun => runs.find((r) => r.config.name === name)!;
  const none = by('no sharing');
  const cksm = by('compact + KSM');
  const aksm = by('aligned + KSM');
  const pool = by('pool loader');
  const vmm = config.instances * config.vmmOverheadMiB * 1048576;
  const conv = (r: ConfigRun): number => r.converged?.endBytes ?? r.endBytes;
  const summary: Record<string, number> = {
    instances: config.instances,
    durationSec: config.durationSec,
    poolVsNoSharing: round(ratio(none.endBytes, pool.endBytes), 3),
    poolVsCompactKsm: round(ratio(cksm.endBytes, pool.endBytes), 3),
    alignedKsmVsCompactKsm: round(ratio(cksm.endBytes, aksm.endBytes), 3),
    poolVsNoSharingGuestOnly: round(ratio(none.endBytes - vmm, pool.endBytes - vmm), 3),
    alignedKsmVsCompactKsmGuestOnly: round(ratio(cksm.endBytes - vmm, aksm.endBytes - vmm), 3),
    poolAslrVsNoSharing: round(ratio(none.endBytes, by('pool loader + ASLR').endBytes), 3),
    convergedAlignedKsmVsCompactKsm: round(ratio(conv(cksm), conv(aksm)), 3),
    convergedPoolVsCompactKsm: round(ratio(conv(cksm), pool.endBytes), 3),
    noSharingMiB: mib(none.endBytes),
    poolMiB: mib(pool.endBytes),
    compactKsmMiB: mib(cksm.endBytes),
    alignedKsmMiB: mib(aksm.endBytes),
    ksmFullScansCompact: cksm.ksm?.fullScans ?? 0,
    byteConfirmedPages: byteConfirmed,
  };
  const rows = runs.map((r) => [
    r.config.name,
    r.config.variant,
    r.config.loader,
    r.config.ksm ? 'yes' : 'no',
    mib(r.endBytes),
    round(ratio(none.endBytes, r.endBytes), 3),
    r.ksm ? r.ksm.fullScans : '-',
    r.ksm ? r.ksm.pagesShared : '-',
    r.ksm ? r.ksm.pagesSharing : '-',
    r.ksm ? r.ksm.pagesUnshared : '-',
    r.ksm ? r.ksm.pagesVolatile : '-',
    r.ksm ? round(r.ksm.generalProfit / 1048576, 1) : '-',
    r.converged ? mib(r.converged.endBytes) : mib(r.endBytes),
    r.cowBreaks,
    r.poolPages,
  ]);
  const loadRows = runs.map((r) => [r.config.name, r.config.loader, round(r.loadPagesCopied, 1), round(r.loadPagesMapped, 1), r.loadMicros]);
  return {
    experiment: 'dedup-faas',
    title: dedupFaasExperiment.title,
    seed,
    quick: config.instances <= 100,
    config,
    summary,
    comparisons: [
      { metric: 'memory, no sharing / pool loader', paper: 'up to 3x (SoCC\'22 abstract and poster)', ours: summary.poolVsNoSharing, unit: 'ratio', note: `end of a ${config.durationSec} s run with ${config.instances} instances; the ${config.vmmOverheadMiB} MiB VMM overhead per VM is included and caps the ratio; without it: ${summary.poolVsNoSharingGuestOnly}` },
      { metric: 'memory, compact + KSM / pool loader', paper: 'load-time path lowest (poster figure; values not published)', ours: summary.poolVsCompactKsm, unit: 'ratio', note: `KSM at Linux defaults (about 4.1k pages/s) made ${summary.ksmFullScansCompact} full scans by the end; it also merges zero-filled bss pages, which the pool loader leaves private; after KSM converges: ${summary.convergedPoolVsCompactKsm}` },
      { metric: 'memory, compact + KSM / aligned + KSM', paper: 'up to 3x, even against DCE (poster)', ours: summary.alignedKsmVsCompactKsm, unit: 'ratio', note: `after KSM converges (VMs frozen): ${summary.convergedAlignedKsmVsCompactKsm}` },
    ],
    tables: [
      {
        name: 'configurations',
        title: `Host memory at the end (${config.instances} instances, ${config.durationSec} s) and KSM counters`,
        columns: ['configuration', 'images', 'loader', 'KSM', 'host MiB', 'vs no sharing', 'full scans', 'pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'general_profit MiB', 'MiB after KSM converges', 'COW breaks', 'pool pages'],
        rows,
      },
      { name: 'load', title: 'Load work per instance', columns: ['configuration', 'loader', 'pages copied', 'pages mapped', 'estimated µs'], rows: loadRows },
    ],
    series: [
      {
        name: 'host-memory',
        title: 'Host memory over time per configuration',
        x: 'simulated time (s)',
        y: 'host memory',
        yUnit: 'MiB',
        kind: 'line',
        points: runs.flatMap((r) => r.memoryMiB.map((y, x) => ({ series: r.config.name, x, y }))),
      },
      {
        name: 'load',
        title: 'Load work per instance: pages copied (standard loader) against pages mapped (pool)',
        x: 'configuration',
        y: 'pages per instance',
        yUnit: 'pages',
        kind: 'bar',
        points: runs.flatMap((r) => [
          { series: 'copied', x: r.config.name, y: round(r.loadPagesCopied, 1) },
          { series: 'mapped', x: r.config.name, y: round(r.loadPagesMapped, 1) },
        ]),
      },
    ],
  };
}
