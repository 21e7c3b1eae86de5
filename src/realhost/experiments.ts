/**
 * The experiments that run on either host. Each gives its description (what runs), its result
 * builder (the same tables from either host's runs) and the simulated run of the description, so
 * that `--host real` runs the description here and `--host both` is a join of two results.
 */
import { runSharingConfig, type ConfigRun, type FaasModel, type SharingConfig } from '../experiments/dedup/faas.ts';
import { dedupFaasExperiment, dedupResult, describeDedupFaas, setFigures, type DedupFaasConfig } from '../experiments/dedup-faas.ts';
import { describeTlbFlushes, tlbFlushesExperiment, tlbFlushesResult, type TlbFlushesConfig } from '../experiments/tlb-flushes.ts';
import type { Experiment, ExperimentResult } from '../experiments/types.ts';
import type { FaasDescription } from './faas.ts';
import { configRng } from './schedule.ts';

type FaasConfig = DedupFaasConfig | TlbFlushesConfig;

export interface HostedExperiment {
  experiment: Experiment;
  describe(config: FaasConfig, seed: number): FaasDescription;
  result(config: FaasConfig, seed: number, quick: boolean, runs: ConfigRun[], description: FaasDescription): ExperimentResult;
  /** Whether the real run counts TLB flushes (needs perf). */
  countFlushes: boolean;
  /** A smaller configuration for `--quick` on the real host (real seconds, real VMs). */
  quickReal(config: FaasConfig): FaasConfig;
}

export const HOSTED: Record<string, HostedExperiment> = {
  'dedup-faas': {
    experiment: dedupFaasExperiment as unknown as Experiment,
    describe: (c, seed) => describeDedupFaas(c as DedupFaasConfig, seed),
    result: (c, seed, quick, runs, d) => dedupResult(c as DedupFaasConfig, seed, quick, runs, d.set.byteConfirmedPages, setFigures(d.set)),
    countFlushes: false,
    // 24 VMs of 4 distinct FaaS images (6 instances each), no sweep.
    quickReal: (c) => ({ ...c, instances: Math.min(c.instances, 24), durationSec: Math.min(c.durationSec, 12), instancesPerImage: 6, sweepInstancesPerImage: [] }) as FaasConfig,
  },
  'tlb-flushes': {
    experiment: tlbFlushesExperiment as unknown as Experiment,
    describe: (c, seed) => describeTlbFlushes(c as TlbFlushesConfig, seed),
    result: (c, seed, quick, runs) => tlbFlushesResult(c as TlbFlushesConfig, seed, quick, runs),
    countFlushes: true,
    quickReal: (c) => ({ ...c, instances: Math.min(c.instances, 8), durationSec: Math.min(c.durationSec, 12), applications: Math.min((c as TlbFlushesConfig).applications, 4) }),
  },
};

/**
 * Run the description on the simulated host, exactly as the experiment's own run does; `modelOf`
 * may give a configuration its own model (its real run's measured boot profile).
 */
export function simulate(name: string, description: FaasDescription, seed: number, modelOf: (c: SharingConfig) => FaasModel = () => description.model): ConfigRun[] {
  return description.configs.map((c) => runSharingConfig(description.set, c, modelOf(c), configRng(seed, name, c)));
}
