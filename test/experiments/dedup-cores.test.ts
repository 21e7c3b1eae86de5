/**
 * FaaS invocations on the host's cores (src/experiments/dedup/cores.ts): hand-counted TLB misses
 * of two VMs sharing one core around a KSM merge, the vpid: false case, KSM against the pool
 * loader in the FaaS model, host memory unchanged by running on cores, the configuration rules,
 * and byte-identical results for a seed.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { GiB, MiB, PAGE_4K } from '../../src/base/units.ts';
import { Ksm, type HostVm } from '../../src/host/index.ts';
import { SimHost } from '../../src/sim/host.ts';
import { faasDefaults, faasModelOf } from '../../src/experiments/dedup-faas.ts';
import { BOOT_TABLE_GPA, BOOT_TABLE_PAGES, bootTableFingerprint, coresModelOf, coresProblem, FaasCores, MAX_VCPUS, type CoreFigures } from '../../src/experiments/dedup/cores.ts';
import { runSharingConfig, SHARING_CONFIGS, type ConfigRun } from '../../src/experiments/dedup/faas.ts';
import { prepareImages } from '../../src/experiments/dedup/images.ts';
import { tlbFlushesExperiment } from '../../src/experiments/tlb-flushes.ts';
import { silentProgress } from '../../src/base/progress.ts';

/** Working-set pages of each hand-counted invocation: far below every TLB's reach. */
const W = 8;
const HEAP = 0x400000;

interface Pair {
  cores: FaasCores;
  vms: HostVm[];
  ksm: Ksm;
}

/** Two VMs on one core, their boot page tables written (identical in both: KSM can merge them). */
function twoVmsOnOneCore(vpid: boolean): Pair {
  const host = new SimHost({ host: { tiers: [{ tier: 'ddr4', bytes: GiB(1) }], variant: 'baseline', policy: { hugeBacking: 'never' } }, cpu: 'icelake', cores: 1, vpid });
  const cores = new FaasCores(host.machine, MiB(16), 3);
  const ksm = new Ksm(host.backend.memory, { pagesToScan: 1000 });
  const vms: HostVm[] = [];
  for (let v = 0; v < 2; v++) {
    const vm = host.backend.createVmWithRegions([{ gpaStart: 0, bytes: MiB(16), tier: -1, hugeBacking: false }]);
    for (let k = 0; k < BOOT_TABLE_PAGES; k++) {
      vm.eptViolation(BOOT_TABLE_GPA + k * PAGE_4K, true);
      vm.setContent(BOOT_TABLE_GPA + k * PAGE_4K, bootTableFingerprint(k));
    }
    assert.equal(cores.attach(vm), v);
    ksm.register(vm);
    vms.push(vm);
  }
  return { cores, vms, ksm };
}

let version = 1;
/** These invocations write no CPL0 stack page (the stack pages are tested in dedup-invocation-stack.test.ts). */
const NO_STACK = new Float64Array(0);
/** One invocation of each VM (A, then B, on the same core); the walks each took. */
function invokeBoth(p: Pair): number[] {
  const before = p.cores.perVcpu().map((c) => c.walks);
  version++;
  for (let v = 0; v < 2; v++) p.cores.queue(v, p.vms[v], HEAP, W, version, NO_STACK);
  p.cores.runQueued();
  return p.cores.perVcpu().map((c, v) => c.walks - before[v]);
}

describe('FaaS invocations on cores, hand-counted', () => {
  it('a KSM merge between invocations costs each flushed VM exactly one miss per page it touches again', () => {
    const p = twoVmsOnOneCore(true);
    assert.deepEqual(invokeBoth(p), [W, W], 'first invocation: every page is a first touch (EPT violation) and a walk');
    assert.deepEqual(invokeBoth(p), [0, 0], 'with VPID both working sets (2 x 8 pages) stay in the core\'s TLBs across the switches');
    // ksmd merges the three boot-table pages the two VMs hold with the same bytes: every merge flushes.
    for (let t = 0; t <= 2e9; t += 20e6) p.ksm.advance(t);
    const merged = p.ksm.counters();
    assert.equal(merged.pagesShared, BOOT_TABLE_PAGES, 'precondition: the boot tables are merged');
    const f = p.cores.figures();
    assert.equal(f.vcpuFlushes, merged.tlbFlushes, 'every flush of ksmd reached the vCPUs');
    assert.equal(f.flushesAfterRunning, 2, 'one flush of each VM found entries; the later ones found none');
    const eptBefore = f.eptViolations;
    assert.deepEqual(invokeBoth(p), [W, W], 'after the flush every page misses again');
    assert.equal(p.cores.figures().eptViolations, eptBefore, 'and those misses are on mapped pages: no EPT violation');
    assert.deepEqual(invokeBoth(p), [0, 0], 'the refilled entries serve the next invocation');
  });

  it('without the merge the same invocations miss nothing after the first', () => {
    const p = twoVmsOnOneCore(true);
    invokeBoth(p);
    assert.deepEqual([invokeBoth(p), invokeBoth(p)], [
      [0, 0],
      [0, 0],
    ]);
  });

  it('without VPID every switch flushes: each invocation after the other VM ran misses all its pages', () => {
    const p = twoVmsOnOneCore(false);
    assert.deepEqual(invokeBoth(p), [W, W]);
    assert.deepEqual(invokeBoth(p), [W, W]);
    assert.ok(p.cores.figures().switches >= 3, 'the core switched between the two vCPUs');
  });
});

const set = prepareImages(20, 1, 1, ['compact', 'aligned']);
const byName = (name: string) => SHARING_CONFIGS.find((c) => c.name === name)!;

/** Four VMs, each alone on its core, invoked often while KSM merges their images. */
function runFaas(name: string, executeOnCores: 'on' | 'off', cores = 4): ConfigRun {
  const c = { ...faasDefaults(), instances: 4, durationSec: 8, launchPerSecond: 2, invocationsPerSecond: 2, executeOnCores, cores };
  return runSharingConfig(set, byName(name), faasModelOf(c), new Rng(7).fork(name));
}

describe('FaaS invocations on cores, KSM against the pool loader', () => {
  const ksm = runFaas('aligned + KSM', 'on');
  const pool = runFaas('pool loader', 'on');
  const k = ksm.cores as CoreFigures;
  const p = pool.cores as CoreFigures;

  it('the pool loader flushes nothing, so alone on its core a VM misses only on first touches', () => {
    assert.equal(p.vcpuFlushes, 0);
    assert.ok(p.invocations > 20, `precondition: enough invocations (${p.invocations})`);
    // First touches of the working sets fault in the EPT; the CPL0 stack pages were backed at boot
    // (bss), so their first touch by each vCPU is a walk without a violation, once per page.
    const stackPages = set.byVariant.get('aligned')!.slice(0, 4).reduce((n, img) => n + img.invocationStack.pages.length, 0);
    assert.ok(stackPages > 0, 'precondition: the images have CPL0 stack pages');
    assert.equal(p.tlbMisses, p.eptViolations + stackPages);
  });

  it('KSM\'s flushes reach VMs that ran and cost them misses on mapped pages, at most one per page touched after such a flush', () => {
    assert.equal(k.vcpuFlushes, ksm.flushesKsm + ksm.flushesVm);
    assert.ok(k.flushesAfterRunning > 0, 'precondition: ksmd merged while the VMs were running');
    const mapped = k.tlbMisses - k.eptViolations;
    assert.ok(mapped > 0, 'flushes cost misses');
    assert.ok(mapped <= k.pagesTouched, 'never more than one miss per page touched');
  });

  it('running on cores leaves host memory and KSM exactly as the memory model alone', () => {
    const alone = runFaas('aligned + KSM', 'off');
    assert.equal(alone.cores, null);
    assert.deepEqual({ ...ksm, cores: null }, alone);
  });
});

describe('cores configuration', () => {
  it('auto runs on cores up to the vCPUs the machine model can tag, on above that is a configuration problem', () => {
    const c = { ...faasDefaults(), executeOnCores: 'auto' as const };
    assert.ok(coresModelOf(c, MAX_VCPUS));
    assert.equal(coresModelOf(c, MAX_VCPUS + 1), null);
    assert.equal(coresProblem({ ...c, instances: MAX_VCPUS + 1 }), undefined);
    assert.match(coresProblem({ ...c, executeOnCores: 'on', instances: MAX_VCPUS + 1 })?.problem ?? '', /tags at most/);
    assert.equal(coresModelOf({ ...c, executeOnCores: 'off' }, 4), null);
  });

  it('tlb-flushes gives byte-identical results for a seed, with the cores table', () => {
    const config = { ...tlbFlushesExperiment.defaults(true), instances: 4, applications: 4, durationSec: 6, invocationsPerSecond: 1 };
    const once = () => JSON.stringify(tlbFlushesExperiment.run(config, { seed: 3, progress: silentProgress }));
    const a = once();
    assert.equal(a, once());
    const r = JSON.parse(a);
    assert.ok(r.tables.some((t: { name: string }) => t.name === 'cores'));
    assert.equal(typeof r.summary.tlbMissesPerInvocationKsm, 'number');
  });

  it("tlb-flushes' notes follow the configured CPU: another preset changes the figures they quote", () => {
    const base = { ...tlbFlushesExperiment.defaults(true), instances: 4, applications: 4, durationSec: 4, invocationsPerSecond: 1 };
    const notes = (cpu: string) => tlbFlushesExperiment.run({ ...base, cpu }, { seed: 3, progress: silentProgress }).comparisons.map((c) => c.note);
    const icelake = notes('icelake');
    const zen2 = notes('zen2');
    const coreNote = (ns: string[]) => ns.find((n) => / VMs per core; /.test(n)) ?? '';
    assert.match(coreNote(icelake), /icelake core/);
    assert.match(coreNote(zen2), /zen2 core/);
    assert.notEqual(coreNote(icelake).replace(/icelake/g, ''), coreNote(zen2).replace(/zen2/g, ''), 'the figures, not only the name, change with the preset');
  });
});
