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
import type { Progress } from '../base/progress.ts';
import { buildFaasSet, readImageSet, type DemoManifest } from '../image/index.ts';
import { firstImages, prepareSet, type ImageSet } from './dedup/images.ts';
import { runSharingConfig, SHARING_CONFIGS, type ConfigRun, type FaasModel, type SharingConfig } from './dedup/faas.ts';
import { readBootProfile } from './dedup/boot-profile.ts';
import { coresDefaults, coresModelFields, coresModelOf, coresProblem } from './dedup/cores.ts';
import { coreComparisons, coreSeries, coreSummary, coreTables } from './dedup/core-results.ts';
import type { ConfigProblem, Experiment, ExperimentResult } from './types.ts';

export const faasModelFields = {
  durationSec: z.number().int().min(1).max(3600).describe('simulated time').meta({ unit: 's', source: 'dedup.md §1.7: memory measured 30-60 s after the last launch' }),
  launchPerSecond: z.number().positive().max(10000).describe('VMs started per second, back to back').meta({ unit: 'VMs/s', source: 'Firecracker design doc: 5 microVMs per host core per second, 180/s on 36 cores (dedup.md §6)' }),
  vmMemoryMiB: z.number().int().min(4).max(1024).describe('guest RAM per VM').meta({ unit: 'MiB', source: 'dedup.md §1.7: 10-16 MiB in the SoCC\'22 examples' }),
  heapInitKiB: z.number().int().min(0).max(65536).describe('heap written at boot with per-instance content').meta({ unit: 'KiB', source: 'assumption: allocator metadata and initialised data of a small unikernel' }),
  stackKiB: z.number().int().min(0).max(65536).describe('stack written at boot').meta({ unit: 'KiB', source: 'assumption: one 64 KiB thread stack (Unikraft default stack is 64 KiB)' }),
  invocationsPerSecond: z.number().min(0.001).max(1000).describe('mean invocations per second per instance (Poisson)').meta({ unit: '1/s', source: 'assumption; Azure Functions trace (Shahrad et al. ATC\'20): most functions are invoked rarely' }),
  workingSetsKiB: z.array(z.number().int().min(4).max(1 << 20)).min(1).describe('working set written per invocation, per application (cycled)').meta({ unit: 'KiB', source: 'assumption: small functions that fit a 16 MiB unikernel (Unikraft: 2-6 MB suffice, dedup.md §5)' }),
  jitter: z.number().min(0).lt(1).describe('uniform relative jitter of the working set').meta({ source: 'src/workload/faas.ts default 0.1' }),
  vmmOverheadMiB: z.number().min(0).max(1024).describe('host memory of each VM\'s VMM process (without guest memory)').meta({ unit: 'MiB', source: 'measured: unimem-vmm\'s private memory outside guest RAM (data, heap, its stacks and the vCPU\'s kvm_run page), 88 KiB per VM (smaps, median of 24 VMs, standard loader, run dedup-faas --host both --quick; docs/realhost.md). Firecracker: about 3 MB (NSDI\'20), at most 5 MiB (SPECIFICATION.md, dedup.md §6)' }),
  pagesToScan: z.number().int().min(1).max(100000).describe('KSM pages_to_scan').meta({ unit: 'pages', source: 'Linux default 100, used by the SoCC\'22 scripts (dedup.md §1.6)' }),
  sleepMillisecs: z.number().int().min(0).max(10000).describe('KSM sleep_millisecs').meta({ unit: 'ms', source: 'Linux default 20, used by the SoCC\'22 scripts (dedup.md §1.6)' }),
  maxPageSharing: z.number().int().min(2).max(65535).describe('KSM max_page_sharing').meta({ unit: 'mappings', source: 'Linux default 256 (dedup.md §1.6)' }),
  useZeroPages: z.boolean().describe('KSM use_zero_pages').meta({ source: 'Linux default 0, used by the SoCC\'22 scripts (dedup.md §1.6)' }),
  stepMs: z.number().int().min(1).max(1000).describe('simulation step interleaving invocations and ksmd').meta({ unit: 'ms', source: 'choice: one ksmd period (sleep_millisecs)' }),
  bssAtBoot: z.enum(['all', 'none', 'measured']).optional().describe('pages a boot writes: all (every bss page zero-filled, the VMM\'s page tables), none (no bss page), or measured (what real boots of the same images wrote: bss, the VMM\'s boot structures, the application\'s heap and stack; from bootProfile, or measured by --host both from the compared VMs). Unset: all, except under --host both, where the simulated side writes what separate real boots of the same images wrote').meta({ source: 'choice, default all (--host both: measured from separate boots); measured: the real host\'s memory snapshots (docs/realhost.md, "Where the pages come from", "The measured boot convention")' }),
  bootProfile: z.string().min(1).optional().describe('boot profile file for bssAtBoot measured (written by unimem host profile)').meta({ source: 'measured on this machine: unimem host profile (docs/realhost.md)' }),
  ...coresModelFields,
  images: z.array(z.string().min(1)).min(1).optional().describe('image set instead of the built-in one: a set directory, a directory of ELF files (optionally in variant subdirectories) or ELF files').meta({ source: 'user input (docs/image-toolchain.md, "Image sets")' }),
};

export const dedupFaasSchema = z
  .object({
    instances: z.number().int().min(1).max(20000).describe('FaaS unikernel instances').meta({ unit: 'VMs', source: 'SoCC\'22 poster: 1000 FaaS unikernels' }),
    instancesPerImage: z.number().int().min(1).max(20000).describe('instances per distinct image: instances / this many distinct function images (1: every instance its own image)').meta({ unit: 'instances', source: 'dedup.md §1.7: 1000 different FaaS unikernels, one ASLR image per instance' }),
    sweepInstancesPerImage: z.array(z.number().int().min(1).max(20000)).max(8).describe('instances per image compared in the sweep plot (empty: no sweep)').meta({ unit: 'instances', source: 'choice: from the paper\'s setup (1) to one image shared by many instances (50)' }),
    ...faasModelFields,
  })
  .strict();

export type DedupFaasConfig = z.infer<typeof dedupFaasSchema>;

export function faasModelOf(c: Omit<DedupFaasConfig, 'instancesPerImage' | 'sweepInstancesPerImage'>): FaasModel {
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
    bssAtBoot: c.bssAtBoot,
    bootProfile: c.bssAtBoot === 'measured' && c.bootProfile ? readBootProfile(c.bootProfile) : null,
    ksm: { pagesToScan: c.pagesToScan, sleepMillisecs: c.sleepMillisecs, maxPageSharing: c.maxPageSharing, useZeroPages: c.useZeroPages },
    stepMs: c.stepMs,
    cores: coresModelOf(c, c.instances),
  };
}

/**
 * Guest-physical memory below the heap that the demo images take (the largest, aligned nginx,
 * ends near 2.1 MiB; 4 MiB leaves room for the applications the spec may add).
 */
export const FAAS_IMAGE_ALLOWANCE_MIB = 4;

/** Cross-field limits of the FaaS model (shared by every experiment that runs it). */
export function faasModelProblem(c: Omit<DedupFaasConfig, 'instances' | 'instancesPerImage' | 'sweepInstancesPerImage' | 'images'>): ConfigProblem | undefined {
  if (c.launchPerSecond * c.durationSec < 1) {
    return { field: 'launchPerSecond', problem: `${c.launchPerSecond} VMs/s starts no VM after the first within durationSec ${c.durationSec} s; give at least ${1 / c.durationSec} VMs/s` };
  }
  if (c.bootProfile && c.bssAtBoot !== 'measured') return { field: 'bootProfile', problem: 'a boot profile is used only with bssAtBoot measured' };
  const bootKiB = c.heapInitKiB + c.stackKiB;
  const roomKiB = (c.vmMemoryMiB - FAAS_IMAGE_ALLOWANCE_MIB) * 1024;
  if (bootKiB > roomKiB) {
    return { field: 'heapInitKiB', problem: `heapInitKiB + stackKiB (${bootKiB} KiB) do not fit in vmMemoryMiB ${c.vmMemoryMiB} beside the image (${FAAS_IMAGE_ALLOWANCE_MIB} MiB); at most ${Math.max(0, roomKiB)} KiB` };
  }
  return undefined;
}

export function faasDefaults(): Omit<DedupFaasConfig, 'instances' | 'durationSec' | 'instancesPerImage' | 'sweepInstancesPerImage' | 'images'> {
  return {
    launchPerSecond: 180,
    vmMemoryMiB: 16,
    heapInitKiB: 256,
    stackKiB: 64,
    invocationsPerSecond: 0.2,
    workingSetsKiB: [128, 512, 1024, 256],
    jitter: 0.1,
    vmmOverheadMiB: 0.086,
    pagesToScan: KSM_DEFAULTS.pagesToScan,
    sleepMillisecs: KSM_DEFAULTS.sleepMillisecs,
    maxPageSharing: KSM_DEFAULTS.maxPageSharing,
    useZeroPages: KSM_DEFAULTS.useZeroPages,
    stepMs: 20,
    ...coresDefaults(),
  };
}

const mib = (b: number): number => round(b / 1048576, 1);

/**
 * What a dedup-faas run consists of, apart from the host that runs it: the image set, the
 * configurations (images, loader, KSM), the model (arrivals, working sets, KSM settings) and,
 * per sweep point, how many distinct images the instances share. The simulated host runs it in
 * `runDescription`; a real host can take the same description.
 */
export interface FaasRunDescription {
  manifest: DemoManifest;
  model: FaasModel;
  configs: readonly SharingConfig[];
  /** Distinct images of the main run, and of each sweep point (instances per image -> images). */
  distinctImages: number;
  sweep: { instancesPerImage: number; distinctImages: number }[];
}

const distinct = (instances: number, perImage: number, available: number): number => Math.max(1, Math.min(available, Math.ceil(instances / perImage)));

export function describeFaasRun(config: DedupFaasConfig, seed: number, progress?: Progress): FaasRunDescription {
  const wanted = [config.instancesPerImage, ...config.sweepInstancesPerImage].map((k) => Math.ceil(config.instances / k));
  const manifest = config.images ? readImageSet(config.images) : buildFaasSet({ count: Math.max(2, ...wanted), seed, progress });
  const available = new Set(manifest.images.map((i) => i.name)).size;
  const variants = new Set(manifest.images.map((i) => i.variant));
  return {
    manifest,
    model: faasModelOf(config),
    configs: SHARING_CONFIGS.filter((c) => variants.has(c.variant)),
    distinctImages: distinct(config.instances, config.instancesPerImage, available),
    sweep: config.sweepInstancesPerImage.map((k) => ({ instancesPerImage: k, distinctImages: distinct(config.instances, k, available) })),
  };
}

/**
 * What runs, on either host (src/realhost runs it on this machine): the images of the main run,
 * the configurations compared, the FaaS model. The sweep points are the simulated run's own.
 */
export function describeDedupFaas(config: DedupFaasConfig, seed: number): { set: ImageSet; configs: readonly SharingConfig[]; model: FaasModel } {
  const d = describeFaasRun(config, seed);
  const set = prepareSet(firstImages(d.manifest, d.distinctImages), [...new Set(d.configs.map((c) => c.variant))]);
  return { set, configs: d.configs, model: d.model };
}

/** The configurations the sweep compares (the contract ratios need these four). */
const SWEEP_CONFIGS = ['no sharing', 'compact + KSM', 'aligned + KSM', 'pool loader'];

export const dedupFaasExperiment: Experiment<typeof dedupFaasSchema> = {
  name: 'dedup-faas',
  title: 'Page sharing for FaaS unikernels: KSM on compact, DCE and aligned images against the load-time pool loader',
  description:
    'Starts up to 1000 FaaS unikernels back to back on one simulated host, by default one distinct function image per instance as the paper did (real gcc/ld images: Lua on musl and lwIP over our platform libraries, one ASLR image per function), and samples host memory every simulated second ' +
    '(frames counted once however many VMs map them, plus the per-VM VMM overhead measured from unimem-vmm) for six configurations: no sharing; compact, dead-code-eliminated and library-aligned images ' +
    'with KSM (Linux defaults, 100 pages every 20 ms); the load-time loader that maps a library pool built from description files; and the same with per-instance ASLR images. ' +
    'A sweep over instances per image shows where alignment pays and where KSM on compact images already suffices. Also the load work per instance (pages copied against pages mapped). Compares with SoCC\'22: aligned images with KSM and a library pool use up to 3x less memory. ' +
    'Takes any image set with --images.',
  howToRead:
    'The memory plot shows how each configuration grows as VMs start and then what KSM wins back over time; the pool loader shares from the first instant. ' +
    'summary.poolVsNoSharing, poolVsCompactKsm and alignedKsmVsCompactKsm are end-of-run memory ratios (above 1: the first uses less); distinctImages is how many different images the instances run, imagePagesPerInstance the file-backed pages of a compact image. ' +
    'The sweep plot repeats the ratios with fewer distinct images (more instances per image). ' +
    'The "converged" columns show what KSM would reach if it could finish two more full scans with the VMs frozen: at the default scan rate KSM falls far behind 1000 VMs. ' +
    'The cores table (executeOnCores) gives per configuration the TLB misses, walk cycles and core time of an invocation run on the host\'s cores, so what KSM\'s flushes cost the VMs is measured.',
  schema: dedupFaasSchema,
  check: (c) => faasModelProblem(c) ?? coresProblem(c),
  // Every instance simulated for the whole run, once in the main run and once per sweep point.
  work: (config) => ({ amount: config.instances * config.durationSec * (1 + config.sweepInstancesPerImage.length), unit: 'VM-seconds', fields: ['instances', 'durationSec', 'sweepInstancesPerImage'] }),
  defaults(quick: boolean): DedupFaasConfig {
    return { instances: quick ? 100 : 1000, durationSec: quick ? 30 : 120, instancesPerImage: 1, sweepInstancesPerImage: [1, 5, 50], ...faasDefaults() };
  },
  run(config, ctx): ExperimentResult {
    // Building the FaaS set (minutes for 1000 functions, once; then cached) shows its own phases.
    const d = describeFaasRun(config, ctx.seed, ctx.progress);
    const rng = new Rng(ctx.seed).fork('dedup-faas');
    const variants = [...new Set(d.configs.map((c) => c.variant))];
    const prepared = new Map<number, ImageSet>();
    const setOf = (n: number): ImageSet => {
      if (!prepared.has(n)) prepared.set(n, prepareSet(firstImages(d.manifest, n), variants));
      return prepared.get(n)!;
    };
    const sweepPoints = d.sweep.filter((p) => p.distinctImages !== d.distinctImages);
    ctx.progress.phase('dedup-faas', d.configs.length + sweepPoints.length * SWEEP_CONFIGS.length);
    let done = 0;
    const runAll = (n: number, names: readonly string[], model: FaasModel): ConfigRun[] =>
      d.configs
        .filter((c) => names.includes(c.name))
        .map((c) => {
          ctx.progress.update(done++, `${c.name}, ${n} images`);
          return runSharingConfig(setOf(n), c, model, rng.fork(c.name));
        });
    const runs = runAll(d.distinctImages, d.configs.map((c) => c.name), d.model);
    // The sweep compares memory only: its points run without the cores (no time figures; a third of the cost).
    const sweep = d.sweep.map((p) => ({ ...p, runs: p.distinctImages === d.distinctImages ? runs : runAll(p.distinctImages, SWEEP_CONFIGS, { ...d.model, cores: null }) }));
    ctx.progress.update(done);
    const main = setOf(d.distinctImages);
    return dedupResult(config, ctx.seed, ctx.quick ?? false, runs, main.byteConfirmedPages, setFigures(main, sweep));
  },
};

interface SetFigures {
  distinctImages: number;
  imagePagesPerInstance: number;
  sweep: { instancesPerImage: number; distinctImages: number; runs: ConfigRun[] }[];
}

/** Ratio of end-of-run memory, first over second configuration; 0 when either did not run. */
function endRatio(runs: ConfigRun[], first: string, second: string, guestOnlyVmm = 0): number {
  const a = runs.find((r) => r.config.name === first);
  const b = runs.find((r) => r.config.name === second);
  return a && b ? round(ratio(a.endBytes - guestOnlyVmm, b.endBytes - guestOnlyVmm), 3) : 0;
}

/** The figures of an image set that the result reports: distinct images and image pages per instance. */
export function setFigures(set: ImageSet, sweep: SetFigures['sweep'] = []): SetFigures {
  const compact = set.byVariant.get('compact') ?? [];
  const imagePages = compact.length ? compact.reduce((n, i) => n + i.copyPages.gpa.length, 0) / compact.length : 0;
  return { distinctImages: new Set(compact.map((i) => i.name)).size, imagePagesPerInstance: imagePages, sweep };
}

/** The summary: the ratios the paper reports, memory per configuration and the cores' figures. */
function dedupSummary(config: DedupFaasConfig, runs: ConfigRun[], byteConfirmed: number, set: SetFigures): Record<string, number> {
  const by = (name: string): ConfigRun | undefined => runs.find((r) => r.config.name === name);
  const none = by('no sharing')!;
  const cksm = by('compact + KSM');
  const aksm = by('aligned + KSM');
  const pool = by('pool loader');
  const vmm = config.instances * config.vmmOverheadMiB * 1048576;
  const conv = (r: ConfigRun | undefined): number => (r ? (r.converged?.endBytes ?? r.endBytes) : 0);
  const convRatio = (a: ConfigRun | undefined, b: number): number => (a && b ? round(ratio(conv(a), b), 3) : 0);
  return {
    instances: config.instances,
    durationSec: config.durationSec,
    distinctImages: set.distinctImages,
    imagePagesPerInstance: round(set.imagePagesPerInstance, 1),
    poolVsNoSharing: endRatio(runs, 'no sharing', 'pool loader'),
    poolVsCompactKsm: endRatio(runs, 'compact + KSM', 'pool loader'),
    alignedKsmVsCompactKsm: endRatio(runs, 'compact + KSM', 'aligned + KSM'),
    poolVsNoSharingGuestOnly: endRatio(runs, 'no sharing', 'pool loader', vmm),
    alignedKsmVsCompactKsmGuestOnly: endRatio(runs, 'compact + KSM', 'aligned + KSM', vmm),
    poolAslrVsNoSharing: endRatio(runs, 'no sharing', 'pool loader + ASLR'),
    convergedAlignedKsmVsCompactKsm: convRatio(cksm, conv(aksm)),
    convergedPoolVsCompactKsm: convRatio(cksm, pool?.endBytes ?? 0),
    noSharingMiB: mib(none.endBytes),
    poolMiB: pool ? mib(pool.endBytes) : 0,
    compactKsmMiB: cksm ? mib(cksm.endBytes) : 0,
    alignedKsmMiB: aksm ? mib(aksm.endBytes) : 0,
    ksmFullScansCompact: cksm?.ksm?.fullScans ?? 0,
    byteConfirmedPages: byteConfirmed,
    ...coreSummary(runs, config.durationSec),
  };
}

/** The tables: configurations with KSM counters, load work, the instances-per-image sweep, the cores. */
function dedupTables(config: DedupFaasConfig, runs: ConfigRun[], set: SetFigures): ExperimentResult['tables'] {
  const none = runs.find((r) => r.config.name === 'no sharing')!;
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
  return [
    {
      name: 'configurations',
      title: `Host memory at the end (${config.instances} instances, ${config.durationSec} s) and KSM counters`,
      columns: ['configuration', 'images', 'loader', 'KSM', 'host MiB', 'vs no sharing', 'full scans', 'pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'general_profit MiB', 'MiB after KSM converges', 'COW breaks', 'pool pages'],
      rows,
    },
    { name: 'load', title: 'Load work per instance', columns: ['configuration', 'loader', 'pages copied', 'pages mapped', 'estimated µs'], rows: loadRows },
    {
      name: 'sweep',
      title: `Instances per image (${config.instances} instances): end-of-run memory ratios`,
      columns: ['instances per image', 'distinct images', 'no sharing MiB', 'compact + KSM MiB', 'aligned + KSM MiB', 'pool loader MiB', 'poolVsNoSharing', 'poolVsCompactKsm', 'alignedKsmVsCompactKsm'],
      rows: set.sweep.map((p) => {
        const m = (n: string): number | string => {
          const r = p.runs.find((x) => x.config.name === n);
          return r ? mib(r.endBytes) : '-';
        };
        return [p.instancesPerImage, p.distinctImages, m('no sharing'), m('compact + KSM'), m('aligned + KSM'), m('pool loader'), endRatio(p.runs, 'no sharing', 'pool loader'), endRatio(p.runs, 'compact + KSM', 'pool loader'), endRatio(p.runs, 'compact + KSM', 'aligned + KSM')];
      }),
    },
    ...coreTables(runs, config.durationSec),
  ];
}

/** The plots: host memory over time, load work, the sweep, the cores. */
function dedupSeries(config: DedupFaasConfig, runs: ConfigRun[], set: SetFigures): ExperimentResult['series'] {
  return [
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
    {
      name: 'sweep',
      title: 'Where alignment pays: memory ratios against instances per image',
      x: 'instances per image',
      y: 'memory ratio (above 1: the second uses less)',
      yUnit: 'ratio',
      kind: 'line',
      points: set.sweep.flatMap((p) => [
        { series: 'compact + KSM / aligned + KSM', x: p.instancesPerImage, y: endRatio(p.runs, 'compact + KSM', 'aligned + KSM') },
        { series: 'compact + KSM / pool loader', x: p.instancesPerImage, y: endRatio(p.runs, 'compact + KSM', 'pool loader') },
        { series: 'no sharing / pool loader', x: p.instancesPerImage, y: endRatio(p.runs, 'no sharing', 'pool loader') },
      ]),
    },
    ...coreSeries(runs, config.durationSec),
  ];
}

/** The result of either host's runs (`set` from `setFigures`; the real host has no sweep). */
export function dedupResult(config: DedupFaasConfig, seed: number, quick: boolean, runs: ConfigRun[], byteConfirmed: number, set: SetFigures = { distinctImages: 0, imagePagesPerInstance: 0, sweep: [] }): ExperimentResult {
  const summary = dedupSummary(config, runs, byteConfirmed, set);
  return {
    experiment: 'dedup-faas',
    title: dedupFaasExperiment.title,
    seed,
    quick,
    config,
    summary,
    comparisons: [...comparisonsOf(config, summary, set), ...coreComparisons(runs, config.durationSec)],
    tables: dedupTables(config, runs, set),
    series: dedupSeries(config, runs, set),
  };
}

/** The comparisons with the paper, their notes built from this run's own figures. */
function comparisonsOf(config: DedupFaasConfig, summary: Record<string, number>, set: SetFigures): ExperimentResult['comparisons'] {
  const sweepText = set.sweep.map((p) => `${p.instancesPerImage} per image: ${endRatio(p.runs, 'compact + KSM', 'aligned + KSM')}`).join(', ');
  const vmmShare = summary.noSharingMiB > 0 ? round((config.instances * config.vmmOverheadMiB) / summary.noSharingMiB, 2) : 0;
  return [
    {
      metric: 'memory, no sharing / pool loader',
      paper: 'up to 3x (SoCC\'22 abstract and poster)',
      ours: summary.poolVsNoSharing,
      unit: 'ratio',
      note: `${config.instances} instances of ${summary.distinctImages} distinct images (${summary.imagePagesPerInstance} file-backed image pages each), ${config.durationSec} s; the ${config.vmmOverheadMiB} MiB VMM overhead per VM is ${vmmShare} of the no-sharing total; without it: ${summary.poolVsNoSharingGuestOnly}`,
    },
    {
      metric: 'memory, compact + KSM / pool loader',
      paper: 'load-time path lowest (poster figure; values not published)',
      ours: summary.poolVsCompactKsm,
      unit: 'ratio',
      note: `KSM at ${config.pagesToScan} pages every ${config.sleepMillisecs} ms made ${summary.ksmFullScansCompact} full scans of the compact images by the end; after KSM converges: ${summary.convergedPoolVsCompactKsm}`,
    },
    {
      metric: 'memory, compact + KSM / aligned + KSM',
      paper: 'up to 3x, even against DCE (poster)',
      ours: summary.alignedKsmVsCompactKsm,
      unit: 'ratio',
      note: `after KSM converges (VMs frozen): ${summary.convergedAlignedKsmVsCompactKsm}; by instances per image: ${sweepText || 'no sweep'}`,
    },
  ];
}
