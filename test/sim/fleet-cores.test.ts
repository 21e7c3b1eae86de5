/**
 * The `ucat` fleet runs its VMs on the cores of its host (src/sim/scheduler.ts): VM i's vCPU on
 * core i mod cores, in time slices, sharing the core's TLBs and caches; throughput comes from the
 * core time of the measured windows (src/experiments/ucat/aggregate.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentProgress } from '../../src/base/progress.ts';
import { totalVms } from '../../src/experiments/ucat/aggregate.ts';
import { fleetSetup, ucatConfiguration } from '../../src/experiments/ucat/configs.ts';
import { runFleet, traceWindow, type FleetParams, type FleetResult, type FleetWorkload, type VmResult } from '../../src/experiments/ucat/fleet.ts';
import { Rng } from '../../src/base/rng.ts';
import type { TraceSource } from '../../src/apps/traced.ts';
import { MemoryTraceReader, TraceBuilder } from '../../src/trace/memory.ts';
import { TraceOp } from '../../src/trace/types.ts';

const model: FleetWorkload = {
  kind: 'model',
  name: 'memslap',
  params: { memslapInitialLoad: 600, memslapValueBytes: 4096, memcachedMemLimitMiB: 16, ycsbWorkload: 'A', ycsbRecordCount: 1, ycsbOperationCount: 1 },
};

/**
 * A fleet of `vms` memcached-model VMs. zen2's LLC is one per cluster of four cores, so 1 and 2
 * cores have the same LLC; a quantum of 0.05 ms (112,500 cycles, about ten gets) puts many
 * switches in every VM's measured window.
 */
function fleet(configuration: string, cores: number, over: Partial<FleetParams> = {}, vms = 2): FleetResult {
  const params: FleetParams = { cpu: 'zen2', dramTier: 'ddr4', nvmTier: 'optane', vms, vmDramMiB: 4, vmNvmMiB: 24, cores, quantumMs: 0.05, vpid: true, ...over };
  const setup = fleetSetup(ucatConfiguration(configuration), '4k', 'equal-share');
  return runFleet(setup, model, params, 3, silentProgress, 0);
}

const sum = (f: FleetResult, k: 'walks' | 'l1TlbMisses' | 'accesses' | 'switches') => f.vms.reduce((t, v) => t + v[k], 0);

test('the same fleet on 2 cores takes about half the simulated time of 1 core, with the same work per VM', () => {
  const one = fleet('ucat', 1);
  const two = fleet('ucat', 2);
  assert.deepEqual(one.vms.map((v) => v.core), [0, 0]);
  assert.deepEqual(two.vms.map((v) => v.core), [0, 1]);
  // Each VM runs the same operations and makes the same accesses wherever it runs.
  for (let i = 0; i < 2; i++) {
    for (const k of ['ops', 'accesses', 'computeCycles', 'requestedBytes'] as const) assert.equal(two.vms[i][k], one.vms[i][k], `vm ${i} ${k}`);
  }
  // One core runs both VMs one after the other, two run them side by side: the fleet's simulated
  // time halves, less what switching and the shared TLBs and L1/L2 cost the single core (the two
  // VMs differ by their operation streams, so the longer of the two sets the two-core time).
  const t1 = Math.max(...one.coreCycles);
  const t2 = Math.max(...two.coreCycles);
  assert.ok(t2 > 0.45 * t1 && t2 < 0.56 * t1, `2 cores ${t2} cycles, 1 core ${t1}`);
  assert.equal(sum(two, 'switches'), 0);
  assert.ok(sum(one, 'switches') > 20, `${sum(one, 'switches')} switches in the windows`);
  // A window's core time is the core's: no more than its clock.
  for (const f of [one, two]) {
    for (let c = 0; c < f.coreCycles.length; c++) {
      const windows = f.vms.filter((v) => v.core === c).reduce((t, v) => t + v.coreCycles, 0);
      assert.ok(windows > 0 && windows <= f.coreCycles[c], `core ${c}: windows ${windows}, clock ${f.coreCycles[c]}`);
    }
  }
  // Host throughput comes from that time: about twice on two cores.
  const rate = (f: FleetResult) => totalVms(f.vms, 2.25e9).hostOps;
  assert.ok(rate(two) > 1.8 * rate(one) && rate(two) < 2.3 * rate(one), `${rate(two)} against ${rate(one)}`);
});

/** A server's trace: 400 values of 4 KiB allocated and written, then 300 requests of a value read each. */
function serverTrace(): FleetWorkload {
  const rng = new Rng(9);
  const t = new TraceBuilder('toy-server', { meta: { runRequests: 300 } });
  const heap = 0x4a00000;
  for (let i = 0; i < 400; i++) {
    t.malloc(heap + i * 4160, 4096);
    for (let o = 0; o < 4096; o += 64) t.store(heap + i * 4160 + o, 8);
  }
  t.event(TraceOp.Marker, 0, 0, 1);
  for (let r = 0; r < 300; r++) {
    const a = heap + rng.nextInt(400) * 4160;
    for (let o = 0; o < 4096; o += 64) t.load(a + o, 8);
    t.event(TraceOp.Marker, r + 1, 0, 2);
  }
  const trace = t.build();
  const source: TraceSource = { header: trace.header, open: () => new MemoryTraceReader(trace, 1000) };
  return { kind: 'trace', name: 'memslap', source, costs: { cyclesPerInstruction: 1, cyclesPerRequest: 5000 }, window: traceWindow(source, 0.25) };
}

test('a replayed trace runs on the cores the same way: half the time on 2 cores, the same work, the window after the warm-up', () => {
  const w = serverTrace();
  const params: FleetParams = { cpu: 'zen2', dramTier: 'ddr4', nvmTier: 'optane', vms: 2, vmDramMiB: 4, vmNvmMiB: 24, cores: 1, quantumMs: 0.05, vpid: true };
  const setup = fleetSetup(ucatConfiguration('ucat'), 'thp', 'equal-share');
  const one = runFleet(setup, w, params, 1, silentProgress, 0);
  const two = runFleet(setup, w, { ...params, cores: 2 }, 1, silentProgress, 0);
  for (let i = 0; i < 2; i++) {
    // The run phase's 300 requests are measured, the allocation phase is the warm-up.
    assert.equal(one.vms[i].ops, 300);
    assert.equal(two.vms[i].accesses, one.vms[i].accesses);
    assert.equal(one.vms[i].accesses, 300 * 64);
  }
  const t1 = Math.max(...one.coreCycles);
  const t2 = Math.max(...two.coreCycles);
  assert.ok(t2 > 0.45 * t1 && t2 < 0.56 * t1, `2 cores ${t2} cycles, 1 core ${t1}`);
  assert.ok(sum(one, 'switches') > 0 && sum(two, 'switches') === 0);
  const rate = (f: FleetResult) => totalVms(f.vms, 2.25e9).hostOps;
  assert.ok(rate(two) > 1.8 * rate(one) && rate(two) < 2.3 * rate(one), `${rate(two)} against ${rate(one)}`);
});

test('VMs sharing a core miss their TLBs more than alone, and more still without VPID', () => {
  // 4 KiB pages everywhere: each VM's values (600 of 4 KiB, two pages each) fit the 2048-entry L2
  // TLB alone, not together with the other VM's.
  const alone = fleet('osv-4k', 2);
  const shared = fleet('osv-4k', 1);
  const flushed = fleet('osv-4k', 1, { vpid: false });
  assert.equal(sum(alone, 'accesses'), sum(shared, 'accesses'));
  assert.equal(sum(shared, 'accesses'), sum(flushed, 'accesses'));
  assert.ok(sum(shared, 'walks') > sum(alone, 'walks'), `walks: shared ${sum(shared, 'walks')}, alone ${sum(alone, 'walks')}`);
  assert.ok(sum(flushed, 'walks') > sum(shared, 'walks'), `walks: without VPID ${sum(flushed, 'walks')}, with ${sum(shared, 'walks')}`);
  assert.ok(sum(flushed, 'l1TlbMisses') > sum(shared, 'l1TlbMisses'));
  // Their cost is in the core time, so in throughput.
  const cyclesPerOp = (f: FleetResult) => totalVms(f.vms, 1).coreCycles / totalVms(f.vms, 1).ops;
  assert.ok(cyclesPerOp(flushed) > cyclesPerOp(shared) && cyclesPerOp(shared) > cyclesPerOp(alone));
});

test('host throughput: each core serves its VMs\' window requests in the core time of those windows', () => {
  const vm = (core: number, ops: number, coreCycles: number): VmResult => ({
    vm: 0,
    workload: 'memslap',
    core,
    ops,
    coreCycles,
    computeCycles: coreCycles / 2,
    translationCycles: 7,
    dataCycles: coreCycles / 2 - 7,
    faultCycles: 0,
    flushCycles: 0,
    switchCycles: 0,
    switches: 3,
    accesses: 10,
    walks: 1,
    walkCycles: 5,
    l1TlbMisses: 2,
    dataLinesMem: [3, 1],
    requestedBytes: 100,
    reservedBytes: 150,
    leaves4K: 0,
    leaves2M: 4,
  });
  // 1 GHz. Core 0 runs VM A (100 requests in 2,000 cycles) and VM B (50 in 3,000): 150 requests
  // in 5,000 cycles, 30 M/s, of which A 20 M/s and B 10 M/s. Core 1 runs VM C alone: 40 requests
  // in 1,000 cycles, 40 M/s. Host: 70 M/s; per VM 70/3 M/s.
  const t = totalVms([vm(0, 100, 2000), vm(0, 50, 3000), vm(1, 40, 1000)], 1e9);
  assert.ok(Math.abs(t.hostOps - 70e6) < 1e-6, `${t.hostOps}`);
  assert.ok(Math.abs(t.opsPerVm - 70e6 / 3) < 1e-6, `${t.opsPerVm}`);
  assert.equal(t.ops, 190);
  assert.equal(t.coreCycles, 6000);
  assert.equal(t.switches, 9);
  assert.equal(t.walks, 3);
  assert.deepEqual(t.dataLinesMem, [9, 3]);
  assert.equal(t.maxLeaves2M, 4);
  // A VM that measured nothing adds no rate and takes no time.
  assert.equal(totalVms([vm(0, 0, 0)], 1e9).hostOps, 0);
});
