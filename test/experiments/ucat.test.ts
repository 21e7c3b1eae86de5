import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentProgress } from '../../src/base/progress.ts';
import { UserError } from '../../src/base/errors.ts';
import { Rng } from '../../src/base/rng.ts';
import { findExperiment } from '../../src/experiments/index.ts';
import { ucatExperiment, ucatSchema, type UcatConfig } from '../../src/experiments/ucat.ts';
import { traceWindow } from '../../src/experiments/ucat/fleet.ts';
import { TraceOp } from '../../src/trace/types.ts';
import { writeReplayForm } from '../../src/experiments/ucat/replay-form.ts';
import { TracedProgram, type TraceSource } from '../../src/apps/traced.ts';
import { SimHost } from '../../src/sim/index.ts';
import type { UcatInputs } from '../../src/experiments/ucat/workloads.ts';
import { MemoryTraceReader, TraceBuilder, type MemoryTrace } from '../../src/trace/memory.ts';
import { numericSummary } from '../../src/experiments/types.ts';

/** Small fleets for the test suite; each VM's footprint still outgrows its DRAM share. */
function small(overrides: Partial<UcatConfig> = {}): UcatConfig {
  return ucatSchema.parse({
    ...ucatExperiment.defaults(true),
    vms: 2,
    vmDramMiB: 4,
    vmNvmMiB: 24,
    dramSharesMiB: [],
    dramPolicies: ['first-come'],
    hostBacking: ['thp'],
    cores: 1,
    memslapInitialLoad: 1500,
    memcachedMemLimitMiB: 20,
    ycsbRecordCount: 6000,
    ycsbOperationCount: 3000,
    configurations: ['osv', 'osv-4k', 'osv-ucat-slabs', 'ucat'],
    ...overrides,
  });
}

/**
 * A server-like program, written the way the shim and lackey would record it: it allocates
 * `objects` values of `valueBytes` (plus a 48-byte header each), then serves requests, each a
 * marker, a header read and a value copy of a random object, with stack and static-data accesses.
 */
function serverTrace(label: string, seed: number, objects: number, valueBytes: number, requests: number): MemoryTrace {
  const rng = new Rng(seed);
  const t = new TraceBuilder(label, { meta: { requests } });
  const heap = 0x4a00000;
  const stride = Math.ceil((valueBytes + 64) / 16) * 16;
  for (let i = 0; i < objects; i++) {
    const a = heap + i * stride;
    t.malloc(a, valueBytes + 48);
    for (let o = 0; o < valueBytes + 48; o += 64) t.store(a + o, 8);
    t.store(0x1ffefff000 - 128, 8);
  }
  for (let r = 0; r < requests; r++) {
    const a = heap + rng.nextInt(objects) * stride;
    t.load(0x60a000 + (r % 64) * 8, 8);
    t.load(a, 8);
    for (let o = 48; o < valueBytes + 48; o += 64) t.load(a + o, 8);
    t.modify(0x1ffefff000 - 64, 8);
    t.marker(r);
  }
  return t.build();
}

function traceInputs(): UcatInputs {
  const source = (trace: MemoryTrace): TraceSource => ({ header: trace.header, open: () => new MemoryTraceReader(trace, 512) });
  return {
    traces: {
      memslap: source(serverTrace('toy-kv+toy-gets', 1, 2500, 4098, 3000)),
      ycsb: source(serverTrace('toy-store+toy-ycsb-a', 2, 4000, 1016, 3000)),
    },
  };
}

const run = (config: UcatConfig, seed = 7, inputs?: unknown) => ucatExperiment.run(config, { seed, progress: silentProgress, inputs });
const cell = (r: ReturnType<typeof run>, table: string, row: string, column: string, workload?: string) => {
  const t = r.tables.find((x) => x.name === table)!;
  const i = t.columns.indexOf(column);
  const w = t.columns.indexOf('workload');
  const found = t.rows.find((x) => x[0] === row && (workload === undefined || x[w] === workload));
  assert.ok(found && i >= 0, `${table}: ${row} ${workload ?? ''} ${column}`);
  return found[i] as number;
};

test('ucat is registered and its defaults validate against its schema', () => {
  assert.equal(findExperiment('ucat'), ucatExperiment as unknown);
  for (const quick of [true, false]) assert.doesNotThrow(() => ucatSchema.parse(ucatExperiment.defaults(quick)));
  assert.ok(ucatExperiment.defaults(false).dramSharesMiB.length >= 3, 'the DRAM share is swept over at least three values');
});

test('the model workload runs end to end; two runs with one seed give identical JSON', () => {
  const config = small({ workload: 'model' });
  const a = run(config);
  const b = run(config);
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  for (const k of ['memoryReduction', 'tlbMissReduction', 'memslapSpeedup', 'ycsbSpeedup']) assert.ok(Number.isFinite(a.summary[k]), `summary.${k} = ${a.summary[k]}`);
  assert.match(String(a.summary.workloads), /^memslap: memcached model .*; ycsb: document-store model/);
  assert.match(String(a.summary.baseline), /^stock OSv .*2 MiB pages.*first come.*THP.*4 MiB of DRAM per VM/);
  assert.equal(a.comparisons.length, 4);

  // Every fleet outgrows its DRAM under OSv with 4 KiB pages: the rest lands on NVM.
  assert.ok(cell(a, 'configurations', 'osv-4k', 'nvmMiB') > 0);
  // 4 KiB pages everywhere walk more than UCat's 2 MiB pages on the same operations, per workload.
  for (const w of ['memslap', 'ycsb']) {
    assert.ok(cell(a, 'workloads', 'ucat', 'tlbMissRatio', w) < cell(a, 'workloads', 'osv-4k', 'tlbMissRatio', w), w);
    assert.ok(cell(a, 'workloads', 'osv-4k', 'tlbMissRatio', w) > 0, w);
  }
  // UCat's slab classes waste less than OSv's power-of-two pools and page rounding.
  assert.ok(cell(a, 'configurations', 'osv-ucat-slabs', 'fragmentation') < cell(a, 'configurations', 'osv', 'fragmentation'));
  // The cycle split the notes quote accounts for each request's core time (the rest: guest
  // invalidations).
  for (const c of config.configurations) {
    for (const w of ['memslap', 'ycsb']) {
      const total = cell(a, 'workloads', c, 'cyclesPerOp', w);
      const parts = ['computeCyclesPerOp', 'translationCyclesPerOp', 'dataCyclesPerOp', 'faultCyclesPerOp', 'switchCyclesPerOp'].reduce((t, k) => t + cell(a, 'workloads', c, k, w), 0);
      assert.ok(Math.abs(total - parts) <= 0.002 * total, `${c} ${w}: ${total} vs ${parts}`);
      const nvm = cell(a, 'workloads', c, 'nvmLineShare', w);
      assert.ok(nvm >= 0 && nvm <= 1, `${c} ${w}: nvmLineShare ${nvm}`);
    }
  }
});

test('the trace workload replays the same accesses under every configuration, placed differently', () => {
  const inputs = traceInputs();
  // zen2's 2048-entry L2 TLB is smaller than the 4 KiB pages of the toy store's values.
  const config = small({ configurations: ['osv', 'osv-4k', 'ucat'], hostBacking: ['thp', '4k'], dramSharesMiB: [2, 4, 8], cpu: 'zen2', vmNvmMiB: 32 });
  const r = run(config, 1, inputs);
  const accesses = (c: string, w: string, backing = 'thp') => {
    const t = r.tables.find((x) => x.name === 'workloads')!;
    const row = t.rows.find((x) => x[0] === c && x[1] === backing && x[2] === w);
    assert.ok(row, `${c} ${backing} ${w}`);
    return row[t.columns.indexOf('accessesPerOp')] as number;
  };
  for (const w of ['memslap', 'ycsb']) {
    assert.equal(accesses('osv', w), accesses('ucat', w), w);
    assert.equal(accesses('osv', w), accesses('osv-4k', w, '4k'), w);
    assert.equal(accesses('osv', w), accesses('osv', w, '4k'), w);
  }
  // Placement differs: UCat keeps part of its values in DRAM by its own policy; 4 KiB pages walk.
  assert.notEqual(cell(r, "configurations", "ucat", "nvmMiB"), cell(r, "configurations", "osv", "nvmMiB"), "nvm");
  assert.ok(cell(r, "configurations", "osv-4k", "tlbMpka") > cell(r, "configurations", "ucat", "tlbMpka"), `walks: osv-4k ${cell(r, "configurations", "osv-4k", "tlbMpka")} ucat ${cell(r, "configurations", "ucat", "tlbMpka")}`);
  assert.match(String(r.summary.workloads), /memslap: toy-kv\+toy-gets \(trace of \d+ events; measured: .*\); ycsb: toy-store\+toy-ycsb-a/);
  // The host-backing axis gives stock OSv two rows; the sweep one point per share and policy.
  assert.deepEqual(
    r.tables.find((t) => t.name === 'configurations')!.rows.map((x) => `${x[0]}/${x[1]}`),
    ['osv/thp', 'osv/4k', 'osv-4k/4k', 'ucat/thp'],
  );
  const sweep = r.tables.find((t) => t.name === 'dram-shares')!;
  assert.deepEqual(sweep.rows.map((x) => x[0]), [2, 4, 8]);
  assert.equal(r.series.find((s) => s.name === 'dram-shares')!.points.length, 6);
  // The headline share is one of the sweep's points: same figure both ways.
  assert.equal(sweep.rows[1][sweep.columns.indexOf('memslapSpeedup')], r.summary.memslapSpeedup);
});

test('the trace workload without captured traces is a one-line user error', () => {
  assert.throws(() => run(small()), (e: unknown) => e instanceof UserError && /needs the captured traces/.test((e as Error).message));
});

test('the summary needs both stock OSv and UCat', () => {
  const problem = ucatExperiment.check!(small({ workload: 'model', configurations: ['osv', 'osv-ucat-slabs'] }));
  assert.equal(problem?.field, 'configurations');
});

test('the notes are built from the run: another CPU preset changes them', () => {
  const a = run(small({ workload: 'model', configurations: ['osv', 'ucat'] }));
  const b = run(small({ workload: 'model', configurations: ['osv', 'ucat'], cpu: 'zen2' }));
  const tlb = (r: ReturnType<typeof run>) => r.comparisons.find((c) => c.metric.startsWith('TLB'))!.note;
  assert.notEqual(tlb(a), tlb(b));
  assert.match(tlb(a), /the icelake L2 TLB holds \d+ entries/);
  assert.match(tlb(b), /the zen2 L2 TLB holds 2048 entries/);
  for (const c of a.comparisons) assert.doesNotMatch(c.note, /not tuned|reproduces|no walk is left/i);
  // Our figures in the paper's sign convention: less memory is negative, as the paper's -50%.
  const s = numericSummary(a.summary);
  assert.equal(a.comparisons[0].ours, -s.memoryReduction);
});

test('a trace is measured over its run phase: the last runRequests replies', () => {
  const REPLY = 2;
  const ACCEPT = 1;
  const trace = (runRequests: number | undefined) => {
    const t = new TraceBuilder('server', { meta: runRequests === undefined ? {} : { runRequests } });
    for (let i = 0; i < 10; i++) t.load(0x1000 + i * 8, 8); // start-up: events 0..9
    t.event(TraceOp.Marker, 1, 0, ACCEPT); // event 10: the client connects
    t.store(0x2000, 8).store(0x2008, 8); // the load phase, answered without replies
    t.event(TraceOp.Marker, 2, 0, ACCEPT); // event 13
    for (let r = 0; r < 3; r++) t.load(0x3000, 8).event(TraceOp.Marker, 3 + r, 0, REPLY); // replies end at 16, 18, 20
    return t.build();
  };
  const src = (t: MemoryTrace): TraceSource => ({ header: t.header, open: () => new MemoryTraceReader(t, 4) });
  assert.equal(traceWindow(src(trace(2)), 0.5).startEvent, 16);
  assert.equal(traceWindow(src(trace(2)), 0.5).replies, 2);
  // Every reply in the run phase: the window starts after the marker before the first reply.
  assert.equal(traceWindow(src(trace(3)), 0.5).startEvent, 14);
  // Only the run phase's last request measured: the others are warm-up.
  assert.deepEqual([traceWindow(src(trace(3)), 0.5, 1).startEvent, traceWindow(src(trace(3)), 0.5, 1).replies], [18, 1]);
  // No run phase in the header: the warm-up share of the events.
  const w = traceWindow(src(trace(undefined)), 0.5);
  assert.deepEqual([w.startEvent, w.events, w.replies], [10, 20, 3]);
});

test('the replay form charges exactly what the fast-forwarded full trace charges, under each allocator', () => {
  // A server whose warm-up allocates, frees, reallocates and touches objects many times over.
  const t = new TraceBuilder('server', { meta: { runRequests: 200 } });
  const rng = new Rng(5);
  const live: number[] = [];
  for (let i = 0; i < 3000; i++) {
    const a = 0x4a00000 + rng.nextInt(400) * 0x2000;
    if (!live.includes(a)) {
      t.malloc(a, 100 + rng.nextInt(7000));
      live.push(a);
    } else if (rng.nextInt(3) === 0) {
      t.free(a);
      live.splice(live.indexOf(a), 1);
      continue;
    }
    for (let k = 0; k < 5; k++) t.store(a + rng.nextInt(6000), 8);
    t.load(0x1ffefff000 - rng.nextInt(64) * 64, 8);
    if (rng.nextInt(10) === 0) t.event(TraceOp.Load, a - 16, 8, 1); // the host allocator's chunk header
  }
  t.event(TraceOp.Marker, 1, 0, 1);
  for (let r = 0; r < 200; r++) {
    t.load(live[rng.nextInt(live.length)] + rng.nextInt(100), 8);
    t.event(TraceOp.Marker, 2 + r, 0, 2);
  }
  const full = t.build();
  const fullSource: TraceSource = { header: full.header, open: () => new MemoryTraceReader(full, 100) };
  const window = traceWindow(fullSource, 0.5);
  assert.equal(window.startEvent, window.events - 400);
  const form = new TraceBuilder('server', { meta: {} });
  const warmup = writeReplayForm(fullSource, window, form);
  const reduced = form.build();
  assert.ok(reduced.length < full.length / 2, `${reduced.length} of ${full.length} events`);
  const formSource: TraceSource = { header: reduced.header, open: () => new MemoryTraceReader(reduced, 64) };
  for (const [guest, variant] of [['osv-4k', 'baseline'], ['ucat', 'tierAware']] as const) {
    const replay = (source: TraceSource, fastForwardEvents: number) => {
      const host = new SimHost({ cpu: 'icelake', host: { tiers: [{ tier: 'ddr4', bytes: 64 * 1024 * 1024 }, { tier: 'optane', bytes: 256 * 1024 * 1024 }], variant, policy: { hugeBacking: 'never' } } });
      const v = host.startVm({ memory: [{ tier: 'ddr4', bytes: 4 * 1024 * 1024 }, { tier: 'optane', bytes: 32 * 1024 * 1024 }], guest });
      const p = new TracedProgram(v.guest.malloc, v.guest.kernel, v.vcpu, source, { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 }, fastForwardEvents });
      p.step(Infinity);
      return { vcpu: v.vcpu.counters.snapshot(), guest: JSON.stringify(v.guest.stats().total), requests: p.requests };
    };
    const a = replay(fullSource, window.startEvent);
    const b = replay(formSource, warmup);
    assert.deepEqual(b.vcpu, a.vcpu, guest);
    assert.equal(b.guest, a.guest, guest);
    assert.equal(b.requests, a.requests, guest);
  }
});

test('a workload that does not fit its VM is a one-line user error naming the fields', () => {
  const config = small({ workload: 'model', vmDramMiB: 2, vmNvmMiB: 2, ycsbRecordCount: 20000, configurations: ['osv', 'ucat'] });
  assert.throws(
    () => run(config),
    (e: unknown) => e instanceof UserError && /^ucat: the \w+ program does not fit its VM .*vmDramMiB 2 \+ vmNvmMiB 2.*raise ucat.vmNvmMiB/.test((e as Error).message) && !(e as Error).message.includes('\n'),
  );
});
