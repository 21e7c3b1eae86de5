/**
 * The registry of named experiments, in the order `unimem reproduce` runs them. One explicit list:
 * an experiment exists once it is listed here.
 */
import type { Experiment } from './types.ts';
import { machineExperiment } from './machine.ts';
import { ucatExperiment } from './ucat.ts';
import { imageSizeExperiment } from './image-size.ts';
import { dedupFaasExperiment } from './dedup-faas.ts';
import { tlbFlushesExperiment } from './tlb-flushes.ts';

export const experiments: Experiment[] = [
  machineExperiment as unknown as Experiment,
  ucatExperiment as unknown as Experiment,
  imageSizeExperiment as unknown as Experiment,
  dedupFaasExperiment as unknown as Experiment,
  tlbFlushesExperiment as unknown as Experiment,];

export function findExperiment(name: string): Experiment | undefined {
  return experiments.find((e) => e.name === name);
}

export type { Experiment, ExperimentResult, RunContext } from './types.ts';
