/**
 * The traced program: a hand-made trace of a small known program replayed in a real simulated VM.
 * Every access must be attributed to the object that held its address at that moment; two guest
 * allocators must place the objects differently and replay exactly the same accesses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LiveObjects, PageMap } from '../../src/apps/intervals.ts';
import { TracedProgram, type TraceSource } from '../../src/apps/traced.ts';
import type { AccessPath } from '../../src/hw/access.ts';
import { SimHost } from '../../src/sim/index.ts';
import { MemoryTraceReader, TraceBuilder, type MemoryTrace } from '../../src/trace/memory.ts';
import { TraceOp } from '../../src/trace/types.ts';

const MiB = 1024 * 1024;

function source(trace: MemoryTrace, batch = 7): TraceSource {
  return { header: trace.header, open: () => new MemoryTraceReader(trace, batch) };
}

/** Records every guest address the replay touches, then forwards to the vCPU. */
class RecordingPath implements AccessPath {
  readonly touched: number[] = [];
  constructor(private readonly inner: AccessPath) {}
  load(gva: number, size: number): number {
    this.touched.push(gva);
    return this.inner.load(gva, size);
  }
  store(gva: number, size: number): number {
    this.touched.push(gva);
    return this.inner.store(gva, size);
  }
}

function vm(guest: string, variant: 'baseline' | 'tierAware' = 'baseline') {
  const host = new SimHost({
    cpu: 'icelake',
    host: { tiers: [{ tier: 'ddr4', bytes: 64 * MiB }, { tier: 'optane', bytes: 256 * MiB }], variant, policy: { hugeBacking: 'never' } },
  });
  return host.startVm({ memory: [{ tier: 'ddr4', bytes: 16 * MiB }, { tier: 'optane', bytes: 16 * MiB }], guest });
}

/**
 * A small program, as the shim and lackey would record it: a = malloc(24); b = malloc(5000);
 * a->x = 1; memcpy-like writes over b; free(a); c = malloc(24) (libc hands out a's address again);
 * reads of c; a stack store; b = realloc(b, 9000) (moves); a read at the end of b.
 */
const A = 0x4a0010;
const B = 0x4a1000;
const B2 = 0x4b0000;
const STACK = 0x1ffefff000;
const TEXT = 0x108000;

function knownProgram(): { trace: MemoryTrace; expect: { event: number; object: string; offset: number }[] } {
  const t = new TraceBuilder('known', { meta: { requests: 3 } });
  const expect: { event: number; object: string; offset: number }[] = [];
  let n = 0;
  const ev = (f: () => void, object?: string, offset = 0) => {
    f();
    if (object !== undefined) expect.push({ event: n, object, offset });
    n++;
  };
  ev(() => t.instr(TEXT, 4), 'text', 0);
  ev(() => t.malloc(A, 24));
  ev(() => t.malloc(B, 5000));
  ev(() => t.store(A + 8, 8), 'a', 8);
  for (let off = 0; off < 5000; off += 1000) ev(() => t.store(B + off, 8), 'b', off);
  ev(() => t.load(A - 8, 8), 'data', 0); // glibc's chunk header, outside the object
  ev(() => t.free(A));
  ev(() => t.malloc(A, 24));
  ev(() => t.load(A, 8), 'c', 0);
  ev(() => t.modify(A + 16, 8), 'c', 16);
  ev(() => t.store(STACK + 64, 8), 'data', 0);
  ev(() => t.realloc(B2, 9000, B));
  ev(() => t.load(B2 + 8992, 8), 'b2', 8992);
  ev(() => t.marker(1));
  return { trace: t.build(), expect };
}

test('PageMap stores and finds page numbers up to 2^40 across growth', () => {
  const m = new PageMap(4);
  const pages = Array.from({ length: 5000 }, (_, i) => i * 7919 * 65537 + (i % 3) * 2 ** 39);
  pages.forEach((p, i) => m.set(p, i));
  pages.forEach((p, i) => assert.equal(m.get(p), i));
  assert.equal(m.get(123456789), -1);
  assert.equal(m.size, pages.length);
});

test('PageMap.delete keeps every other key findable (fuzzed against a Map, with growth and wrapped probe runs)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 400, size: 'max' }), (ops) => {
      const m = new PageMap(4);
      const model = new Map<number, number>();
      ops.forEach(([put, k], i) => {
        // Keys far apart and close together, so that runs collide and wrap around the table.
        const key = k % 7 === 0 ? k * 2 ** 40 : k;
        if (put) {
          m.set(key, i);
          model.set(key, i);
        } else {
          m.delete(key);
          model.delete(key);
        }
        assert.equal(m.size, model.size);
      });
      for (let k = 0; k <= 300; k++) {
        const key = k % 7 === 0 ? k * 2 ** 40 : k;
        assert.equal(m.get(key), model.get(key) ?? -1);
      }
    }),
    { numRuns: 200 },
  );
});

test('LiveObjects finds the object holding an address, and forgets freed ones (fuzzed against a list)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 20000 }), fc.boolean()), { maxLength: 60 }),
      fc.array(fc.integer({ min: 0, max: 200 * 4096 + 20000 }), { maxLength: 80 }),
      (ops, probes) => {
        const objects = new LiveObjects();
        const model: { start: number; end: number; id: number }[] = [];
        for (const [slot, bytes, release] of ops) {
          const start = slot * 4096 + (slot % 5) * 16;
          const live = model.findIndex((o) => o.start === start);
          if (release && live >= 0) {
            objects.remove(model[live].id);
            model.splice(live, 1);
            continue;
          }
          if (live >= 0 || model.some((o) => start < o.end && o.start < start + bytes)) continue;
          model.push({ start, end: start + bytes, id: objects.add(start, bytes, start * 2) });
        }
        for (const a of probes) {
          const want = model.find((o) => a >= o.start && a < o.end);
          assert.equal(objects.find(a), want ? want.id : -1, `address ${a}`);
        }
        assert.equal(objects.live, model.length);
      },
    ),
    { numRuns: 200, seed: 11 },
  );
});

test('the replay attributes every access of a small known program to the object that held it', () => {
  const { trace, expect } = knownProgram();
  const v = vm('osv-4k');
  const path = new RecordingPath(v.vcpu);
  // Objects' guest addresses, captured as the allocator hands them out.
  const given: number[] = [];
  const malloc = v.guest.malloc;
  const recording = {
    malloc: (b: number, h?: number) => (given.push(malloc.malloc(b, h)), given[given.length - 1]),
    memalign: (a: number, b: number, h?: number) => (given.push(malloc.memalign(a, b, h)), given[given.length - 1]),
    realloc: (x: number, b: number, h?: number) => (given.push(malloc.realloc(x, b, h)), given[given.length - 1]),
    free: (x: number) => malloc.free(x),
    usableSize: (x: number) => malloc.usableSize(x),
  };
  const p = new TracedProgram(recording, v.guest.kernel, path, source(trace), { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 } });
  p.step(Infinity);
  assert.ok(p.done);
  const [ga, gb, gc, gb2] = given;
  const objectBase: Record<string, number> = { a: ga, b: gb, c: gc, b2: gb2 };
  // One recorded guest address per access, two for the Modify (load, then store of the same bytes).
  const touchedPerEvent: number[] = [];
  let k = 0;
  for (let i = 0; i < trace.length; i++) {
    const op = trace.op[i];
    if (op <= 3) {
      touchedPerEvent[i] = path.touched[k];
      k += op === 3 ? 2 : 1;
    }
  }
  assert.equal(k, path.touched.length);
  for (const e of expect) {
    const gva = touchedPerEvent[e.event];
    if (e.object in objectBase) assert.equal(gva, objectBase[e.object] + e.offset, `event ${e.event} -> ${e.object}+${e.offset}`);
    else {
      // Program memory: packed into the guest's mmap area, never inside an object.
      for (const base of Object.values(objectBase)) assert.ok(gva < base || gva >= base + 16384, `event ${e.event} outside objects`);
    }
  }
  // Freed a, then c at the same program address: the guest may or may not reuse the slot, but the
  // replay follows the allocator's answer, not the program's address.
  const c = p.counters;
  assert.equal(c.allocations, 3);
  assert.equal(c.reallocs, 1);
  assert.equal(c.frees, 1);
  assert.equal(c.objectAccesses, 9);
  assert.equal(c.programAccesses, 3);
  assert.equal(c.unknownFrees + c.staleObjects, 0);
  assert.equal(p.liveObjects, 2);
  assert.equal(c.peakLiveBytes, 24 + 9000);
  assert.equal(p.requests, 1);
});

test('replaying one trace under two allocators changes placement, never the number of accesses', () => {
  const { trace } = knownProgram();
  const runs = [['osv-4k', 'baseline'], ['ucat', 'tierAware']].map(([guest, variant]) => {
    const v = vm(guest, variant as 'baseline' | 'tierAware');
    const path = new RecordingPath(v.vcpu);
    const p = new TracedProgram(v.guest.malloc, v.guest.kernel, path, source(trace, 3), { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 } });
    p.step(5);
    p.step(Infinity);
    return { touched: path.touched, counters: p.counters, vcpu: v.vcpu.counters };
  });
  assert.equal(runs[0].touched.length, runs[1].touched.length);
  assert.equal(runs[0].counters.accesses, runs[1].counters.accesses);
  assert.equal(runs[0].vcpu.accesses, runs[1].vcpu.accesses);
  assert.notDeepEqual(runs[0].touched, runs[1].touched);
});

test('a fast-forwarded start-up touches each program page once and replays every allocation', () => {
  const { trace } = knownProgram();
  const replay = (fastForwardEvents: number) => {
    const v = vm('osv-4k');
    const p = new TracedProgram(v.guest.malloc, v.guest.kernel, v.vcpu, source(trace), { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 }, fastForwardEvents });
    p.step(Infinity);
    return { c: p.counters, resident: v.guest.stats().kernel.leaves4K, charged: v.vcpu.counters.accesses };
  };
  const full = replay(0);
  const fast = replay(trace.length);
  assert.equal(fast.c.allocations, full.c.allocations);
  assert.equal(fast.c.reallocs + fast.c.frees, full.c.reallocs + full.c.frees);
  assert.equal(fast.c.accesses, full.c.accesses);
  // b's five stores fall on two guest pages: the first access to each is charged, the rest left out.
  assert.ok(fast.c.fastForwarded > 0);
  assert.equal(fast.charged + fast.c.fastForwarded, full.charged);
  // Every page the program touched is still placed and mapped.
  assert.equal(fast.resident, full.resident);
});

/** A xorshift32 stream from `seed`: rand(n) is in [0, n). */
function xorshift(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/**
 * A random program: objects allocated, reallocated and freed at addresses that may collide (stale
 * objects), accesses inside objects, across their ends, on object-free pages of the stack and of
 * static data, across pages, inside allocation calls, and instruction fetches.
 */
function randomTrace(seed: number, events: number): MemoryTrace {
  const rand = xorshift(seed);
  const t = new TraceBuilder('random', { meta: { requests: 1 } });
  const live: number[] = [];
  const HEAP = 0x4a0000;
  const near = (): number => (live.length > 0 && rand(4) !== 0 ? live[rand(live.length)] + rand(96) - 8 : HEAP + rand(64 * 1024));
  for (let i = 0; i < events; i++) {
    const r = rand(100);
    const size = [1, 2, 4, 8, 16, 32, 64, 3, 100][rand(9)];
    if (r < 4) {
      const a = HEAP + rand(4096) * 16;
      t.malloc(a, 8 + rand(6000));
      live.push(a);
    } else if (r < 6 && live.length > 0) {
      t.free(live.splice(rand(live.length), 1)[0]);
    } else if (r < 7 && live.length > 0) {
      const old = live.splice(rand(live.length), 1)[0];
      const a = HEAP + rand(4096) * 16;
      t.realloc(a, 8 + rand(9000), old);
      live.push(a);
    } else if (r < 20) {
      t.instr(0x108000 + rand(3 * 4096), 1 + rand(15));
    } else if (r < 25) {
      t.event(TraceOp.Load, near(), size, 1);
    } else {
      const a = r < 55 ? near() : r < 80 ? 0x1ffefff000 + rand(2 * 4096) : 0x60000 + rand(4 * 4096);
      if (r % 3 === 0) t.store(a, size);
      else if (r % 3 === 1) t.load(a, size);
      else t.modify(a, size);
    }
  }
  return t.build();
}

test('the cached translations of a replay change no access, no counter and no cycle (fuzzed)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 0, max: 300 }), (seed, slice, fastForwardEvents) => {
      const trace = randomTrace(seed, 1500);
      const run = (translationCaches: boolean) => {
        const v = vm('osv-4k');
        const path = new RecordingPath(v.vcpu);
        const p = new TracedProgram(v.guest.malloc, v.guest.kernel, path, source(trace, 97), { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 }, fastForwardEvents, translationCaches });
        const probes: number[] = [];
        // objectGvaOf between steps moves what the interval map checks first.
        while (!p.done) {
          p.step(slice);
          probes.push(p.objectGvaOf(0x4a0000 + (probes.length % 64) * 256));
        }
        return { touched: path.touched, counters: p.counters.snapshot(), vcpu: JSON.stringify(v.vcpu.counters), probes };
      };
      assert.deepEqual(run(true), run(false));
    }),
    { numRuns: 25 },
  );
});

/**
 * A trace in which most events are what the replay kernel serves (loads, stores and fetches in
 * runs on a few objects, the stack and the text), with every kind of event it leaves to TypeScript
 * among them now and then: allocations, Modify, allocator accesses, accesses across two lines,
 * pages no cached translation holds yet.
 */
function kernelTrace(seed: number, events: number): MemoryTrace {
  const rand = xorshift(seed);
  const t = new TraceBuilder('kernel', { meta: { requests: 1 } });
  const HEAP = 0x4a0000;
  const live: number[] = [];
  for (let k = 0; k < 8; k++) {
    live.push(HEAP + k * 0x3000);
    t.malloc(live[k], 4096 + rand(8000));
  }
  let at = live[0];
  for (let i = 0; i < events; i++) {
    const r = rand(1000);
    if (r < 5) {
      const k = rand(live.length);
      t.free(live[k]);
      t.malloc(live[k], 4096 + rand(8000));
    } else if (r < 15) t.modify(at, 8);
    else if (r < 20) t.event(TraceOp.Load, at, 8, 1);
    else if (r < 25) t.load(at + 60, 8); // across two lines
    else if (r < 200) t.instr(0x108000 + rand(2 * 4096), 1 + rand(7));
    else if (r < 215) t.event(TraceOp.Store, 0x1ffefff000 + rand(512) * 8, 8, 1); // inside an allocation call: left out
    else if (r < 350) t[r % 2 ? 'store' : 'load'](0x1ffefff000 + rand(512) * 8, 8); // the stack's page
    else {
      if (r < 500) at = live[rand(live.length)] + rand(64) * 8;
      else at += 8;
      t[r % 3 === 0 ? 'store' : 'load'](at, 1 << rand(4));
    }
  }
  return t.build();
}

test('the replay kernel (AccessPath.replayEvents) changes no counter, no cycle and no placement (fuzzed)', () => {
  let kernelEvents = 0;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 0, max: 300 }), fc.boolean(), (seed, slice, fastForwardEvents, ucat) => {
      const trace = kernelTrace(seed, 6000);
      const run = (replayKernel: boolean) => {
        const v = ucat ? vm('ucat', 'tierAware') : vm('osv-4k');
        const p = new TracedProgram(v.guest.malloc, v.guest.kernel, v.vcpu, source(trace, 1500), { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 }, fastForwardEvents, replayKernel });
        const probes: number[] = [];
        while (!p.done) {
          p.step(slice);
          probes.push(p.objectGvaOf(0x4a0000 + (probes.length % 64) * 256));
        }
        kernelEvents += p.kernelEvents;
        return { counters: p.counters.snapshot(), vcpu: JSON.stringify(v.vcpu.counters), probes };
      };
      assert.deepEqual(run(true), run(false));
    }),
    { numRuns: 20 },
  );
  // The kernel served a share of the events (the rest are allocations, Modify, allocator accesses, misses).
  assert.ok(kernelEvents > 20 * 2000, `the kernel served ${kernelEvents} of ${20 * 6000} events`);
});

test('LiveObjects.holdsPageAlone: an object is alone on its part of a page unless another live object overlaps that part', () => {
  const objects = new LiveObjects();
  const a = objects.add(0x500000, 0x3000, 0); // pages 0x500-0x502
  const b = objects.add(0x502800, 0x100, 0); // inside a, on page 0x502
  const c = objects.add(0x601000, 0x40, 0); // page 0x601, with d
  const d = objects.add(0x601100, 0x40, 0);
  assert.equal(objects.holdsPageAlone(a, 0x500), true);
  assert.equal(objects.holdsPageAlone(a, 0x501), true);
  assert.equal(objects.holdsPageAlone(a, 0x502), false);
  assert.equal(objects.holdsPageAlone(b, 0x502), false);
  // Neighbours on one page that do not overlap leave each other alone.
  assert.equal(objects.holdsPageAlone(c, 0x601), true);
  assert.equal(objects.holdsPageAlone(d, 0x601), true);
  objects.remove(b);
  assert.equal(objects.holdsPageAlone(a, 0x502), true);
});

test('an access served from the object cache makes its object the one find checks first, as find would', () => {
  // a and b overlap (a free the capture missed): an address in both finds whichever object the
  // interval map checks first, the object found last. Between, a is found from the page cache.
  const A = 0x500000;
  const B = 0x502800;
  const C = 0x600000;
  const t = new TraceBuilder('overlap', { meta: { requests: 1 } });
  t.malloc(A, 0x3000).malloc(B, 0x100).malloc(C, 0x100);
  t.load(A + 0x10, 8); // general path: finds a, caches it for page 0x500
  t.load(C + 0x10, 8); // c is now what find checks first
  t.load(A + 0x20, 8); // from the page cache: a again
  t.load(B + 0x10, 8); // in a and in b: a, the object found last
  t.load(C + 0x20, 8);
  t.load(B + 0x18, 8); // c found last: b (the newest on the page) answers
  const trace = t.build();
  const run = (translationCaches: boolean) => {
    const v = vm('osv-4k');
    const path = new RecordingPath(v.vcpu);
    const given: number[] = [];
    const malloc = v.guest.malloc;
    const recording = { ...malloc, malloc: (bytes: number, hint?: number) => (given.push(malloc.malloc(bytes, hint)), given[given.length - 1]) };
    const p = new TracedProgram(recording as typeof malloc, v.guest.kernel, path, source(trace, 64), { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 }, translationCaches });
    p.step(Infinity);
    return { touched: path.touched, given, objectAccesses: p.counters.objectAccesses };
  };
  const cached = run(true);
  const [ga, gb, gc] = cached.given;
  assert.deepEqual(cached.touched, [ga + 0x10, gc + 0x10, ga + 0x20, ga + 0x2810, gc + 0x20, gb + 0x18]);
  assert.equal(cached.objectAccesses, 6);
  assert.deepEqual(cached, run(false));
});
