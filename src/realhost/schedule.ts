/**
 * FaaS invocations on real VMs: the guest has no timer, so the VMM drives them (native/vmm,
 * `--invocations FILE`): the guest asks for its next invocation through a port, and the VMM answers
 * when that arrival's time has come with its working-set bytes; the guest then writes that working
 * set (demo/libs/ukplat/kvm.c). The schedule is the simulated host's own (src/experiments/dedup/
 * faas.ts): the same random stream per instance (`faas/<i>` of the configuration's stream), the same
 * Poisson arrivals and working sets, shifted by the instance's launch time, each at the simulation
 * step that serves it, up to the end of the run. So real memory over time follows the same
 * arrivals as the simulation.
 */
import * as fs from 'node:fs';
import { Rng } from '../base/rng.ts';
import type { FaasModel, SharingConfig } from '../experiments/dedup/faas.ts';
import type { ImageSet } from '../experiments/dedup/images.ts';
import { createFaasArrivals, Invocation } from '../workload/faas.ts';

export interface ScheduledInvocation {
  /** Arrival, ns after the run's start (the first launch). */
  atNs: number;
  workingSetBytes: number;
}

/**
 * The random stream of one configuration of an experiment, as the simulated host forks it
 * (src/realhost/experiments.ts `simulate`, the experiments' own runs): seed, experiment, configuration.
 */
export function configRng(seed: number, experiment: string, config: SharingConfig): Rng {
  return new Rng(seed).fork(experiment).fork(config.name);
}

/** Invocations of instance `i` in the simulated host's order and timing (see the file comment). */
export function instanceSchedule(set: ImageSet, config: SharingConfig, model: FaasModel, rng: Rng, i: number): ScheduledInvocation[] {
  const images = set.byVariant.get(config.variant)!;
  const img = images[i % images.length];
  const appNames = [...new Set(images.map((x) => x.name))];
  const ws = model.workingSetsKiB[appNames.indexOf(img.name) % model.workingSetsKiB.length] * 1024;
  const arrivals = createFaasArrivals(rng.fork(`faas/${i}`), { ratePerSecond: model.invocationsPerSecond, jitter: model.jitter, functions: [{ name: img.name, weight: 1, workingSetBytes: ws }] });
  const stepNs = model.stepMs * 1e6;
  const endNs = model.durationSec * 1e9;
  const launchNs = i * (1e9 / model.launchPerSecond);
  const out: ScheduledInvocation[] = [];
  const inv = new Invocation();
  for (;;) {
    arrivals.next(inv);
    // The simulated host serves an arrival at the first step at or after it.
    const atNs = Math.ceil((inv.timeNs + launchNs) / stepNs) * stepNs;
    if (atNs > endNs) return out;
    out.push({ atNs, workingSetBytes: inv.workingSetBytes });
  }
}

/** The VMM's schedule file: one line per invocation, "<arrival ns> <working-set bytes>". */
export function writeSchedule(file: string, schedule: readonly ScheduledInvocation[]): void {
  fs.writeFileSync(file, schedule.map((s) => `${Math.round(s.atNs)} ${s.workingSetBytes}\n`).join(''));
}
