/**
 * The replay's objects keep one V8 map for their whole life: a later program's objects must have
 * the maps the first program's had when the replay's code was optimized. A count that turned into
 * a double during a replay (the fractional cycle sum, byte counts from the trace, counts past
 * 2^30) used to give the counters a new map, which discarded the optimized replay loop of every
 * later program in the process (it then ran as on-stack-replaced code, boxing a double per event);
 * so did the vCPU's fields that the replay's kernel call fills from its block and the program's
 * addresses, whose new maps threw away the access path's code when the second VM was made. Maps
 * are only visible through V8's natives syntax, so the checks run in a child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Run `body` (an ES module; `%` natives allowed) in a child process; returns its last line of output, parsed. */
function inChild(body: string): unknown {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-maps-'));
  try {
    const script = path.join(dir, 'check.mjs');
    fs.writeFileSync(script, body);
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', script], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const moduleUrl = (file: string): string => JSON.stringify(pathToFileURL(path.join(REPO, file)).href);

test('ReplayCounters keep their map when counts turn into doubles', () => {
  const out = inChild(
    `const { ReplayCounters } = await import(${moduleUrl('src/apps/traced.ts')});
const fresh = new ReplayCounters();
const used = new ReplayCounters();
// What a replay does to them: a fractional cycle sum, byte counts and counts past 2^30.
used.memoryCycles += 1354104.7346938774;
used.liveBytes += 2 ** 31 + 8;
used.peakLiveBytes = used.liveBytes;
used.events += 3e9;
used.loads += 2 ** 30;
const next = new ReplayCounters();
console.log(JSON.stringify({ usedNext: %HaveSameMap(used, next), freshNext: %HaveSameMap(fresh, next) }));
`,
  );
  assert.deepEqual(out, { usedNext: true, freshNext: true });
});

test('a replay through the kernel leaves the vCPU, its counters, the program and its areas with the maps they were made with', () => {
  // Objects of 4 KiB and a stack far above them, loads and stores in runs (the kernel's cases),
  // so that the replay fills the vCPU's fields from the kernel's block and translates addresses past 2^30.
  const out = inChild(
    `const { SimHost } = await import(${moduleUrl('src/sim/index.ts')});
const { TracedProgram } = await import(${moduleUrl('src/apps/traced.ts')});
const { MemoryTraceReader, TraceBuilder } = await import(${moduleUrl('src/trace/memory.ts')});
const { TraceOp } = await import(${moduleUrl('src/trace/types.ts')});
const MiB = 1024 * 1024;
const HEAP = 0x55d4a000;
const STACK = 0x1ffeffff00;
const t = new TraceBuilder('maps', { meta: { requests: 1 } });
for (let k = 0; k < 16; k++) t.event(TraceOp.Malloc, HEAP + k * 8192, 4096);
let x = 1;
for (let i = 0; i < 20000; i++) {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  const op = x & 3 ? TraceOp.Load : TraceOp.Store;
  if ((x >>> 2) % 10 < 4) { t.event(op, STACK - ((x >>> 8) & 31) * 8, 8); continue; }
  const base = HEAP + ((x >>> 8) % 16) * 8192;
  for (let at = ((x >>> 12) % 500) * 8, j = 0; j < 1 + ((x >>> 20) & 15); j++, at += 8) t.event(op, base + at, 8);
}
const trace = t.build();
const source = { header: trace.header, open: () => new MemoryTraceReader(trace, 4096) };
function machine() {
  const host = new SimHost({ cpu: 'icelake', host: { tiers: [{ tier: 'ddr4', bytes: 256 * MiB }], variant: 'baseline', policy: { hugeBacking: 'never' } } });
  const vm = host.startVm({ memory: [{ tier: 'ddr4', bytes: 64 * MiB }], guest: 'osv' });
  return { vm, program: new TracedProgram(vm.guest.malloc, vm.guest.kernel, vm.vcpu, source, { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 } }) };
}
const fresh = machine();
const used = machine();
used.program.step(Infinity);
if (used.program.kernelEvents === 0) throw new Error('the kernel served no event');
const next = machine();
const same = (a, b) => ({
  vcpu: %HaveSameMap(a.vm.vcpu, b.vm.vcpu),
  counters: %HaveSameMap(a.vm.vcpu.counters, b.vm.vcpu.counters),
  hostVm: %HaveSameMap(a.vm.hostVm.counters, b.vm.hostVm.counters),
  program: %HaveSameMap(a.program, b.program),
  objects: %HaveSameMap(a.program.objects, b.program.objects),
  area: %HaveSameMap(a.program.data, b.program.data),
});
console.log(JSON.stringify({ fresh: same(fresh, next), used: same(used, next) }));
`,
  );
  const all = { vcpu: true, counters: true, hostVm: true, program: true, objects: true, area: true };
  assert.deepEqual(out, { fresh: all, used: all });
});

test('loadMany and storeMany leave the vCPU and its counters with the maps they were made with', () => {
  // Random accesses over mapped and unmapped pages: walks served in the module, faults and L2 TLB
  // hits left to the vCPU with the module's translation (its block's numbers back in its fields).
  const out = inChild(
    `const { CPU_PRESETS, translationOnly } = await import(${moduleUrl('src/hw/cpu.ts')});
const { FlatSpace } = await import(${moduleUrl('src/hw/flatspace.ts')});
const { resolveTier, TierMap, TIER_PRESETS } = await import(${moduleUrl('src/hw/tiers.ts')});
const { Machine, VCpu } = await import(${moduleUrl('src/hw/vcpu.ts')});
function vcpu(cpu) {
  const space = new FlatSpace({ guestPageSize: 0, hostPageSize: 0 });
  const v = new VCpu(new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30])), space, 0);
  return { v, base: space.base };
}
const result = {};
for (const [name, cpu] of [['caches', CPU_PRESETS.zen2], ['translation', translationOnly(CPU_PRESETS.zen2)]]) {
  const fresh = vcpu(cpu);
  const used = vcpu(cpu);
  for (let p = 0; p < 4096; p++) used.v.load(used.base + p * 4096, 8);
  let x = 3;
  const gvas = Float64Array.from({ length: 20000 }, () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), used.base + (x % 6000) * 4096 + (x % 512) * 8));
  used.v.loadMany(gvas, 0, 10000, 8);
  used.v.storeMany(gvas, 10000, 20000, 8);
  if (used.v.servedInModule === 0) throw new Error('the module served no access');
  const next = vcpu(cpu);
  result[name] = {
    fresh: %HaveSameMap(fresh.v, next.v) && %HaveSameMap(fresh.v.counters, next.v.counters),
    used: %HaveSameMap(used.v, next.v) && %HaveSameMap(used.v.counters, next.v.counters),
  };
}
console.log(JSON.stringify(result));
`,
  );
  assert.deepEqual(out, { caches: { fresh: true, used: true }, translation: { fresh: true, used: true } });
});
