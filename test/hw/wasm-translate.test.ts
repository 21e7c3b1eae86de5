/**
 * The translation path in WebAssembly (src/hw/wasm-translate.ts) against the TypeScript path:
 * `cacheLookup` / `cacheInsert` against `TranslationCache.lookup` / `insert` on random operation
 * sequences, for every geometry and mode the presets use and the odd ones the classes allow,
 * comparing return values and every byte of the caches' arena regions after every step; and
 * `translate` / `walk` against `VCpu.translateSlow` on twin machines (the TypeScript path on one),
 * comparing the result, the walk's references, the counters the status implies and every
 * translation structure after each translation.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PageSize } from '../../src/base/units.ts';
import { Rng } from '../../src/base/rng.ts';
import { arena } from '../../src/hw/arena.ts';
import type { Core } from '../../src/hw/core.ts';
import { CPU_PRESETS, withoutTranslationCaches, type CpuPreset } from '../../src/hw/cpu.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { TAG_SPAN, TranslationCache } from '../../src/hw/tlb.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';
import { translator } from '../../src/hw/wasm-translate.ts';

const wasm = translator();
const skip = wasm === null ? 'no WebAssembly translation path here (AssemblyScript, a dev dependency, is missing, or UNIMEM_WASM_TRANSLATE=0)' : false;

/** Bytes per element of the region's arrays, in the order of their offsets (see tlb.ts). */
const ARRAY_BYTES = [8, 8, 1, 4, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4];
const ARRAY_NAMES = ['key', 'value', 'flags', 'sizeCount', 'front', 'fp', 'bucketHead', 'chainNext', 'bucketOf', 'prev', 'next', 'head', 'tail', 'fill'];
const HEADER_NAMES = ['valid', 'tagBase', 'missedKey', 'missedBucket', 'sets', 'ways', 'setMask', 'indexed', 'hashBits', 'fpShift'];

/** Lengths of a region's arrays, from its header (the layout the WebAssembly side reads). */
function arrayLengths(base: number): number[] {
  const h = (j: number) => arena.f64[base / 8 + j];
  const sets = h(4);
  const n = sets * h(5);
  const ix = h(7);
  const fp = h(9) >= 0 ? n : 0;
  return [n, n, n, 4, ix ? 0 : sets, fp, ix ? 2 ** h(8) : 0, ix * n, ix * n, ix * n, ix * n, ix * sets, ix * sets, ix * sets];
}

/** The first difference between the regions of two caches, or null. */
function regionDifference(a: TranslationCache, b: TranslationCache): string | null {
  for (let j = 0; j < HEADER_NAMES.length; j++) {
    const x = arena.f64[a.base / 8 + j];
    const y = arena.f64[b.base / 8 + j];
    if (!Object.is(x, y)) return `header ${HEADER_NAMES[j]}: ${x} against ${y}`;
  }
  const lengths = arrayLengths(a.base);
  for (let j = 0; j < ARRAY_BYTES.length; j++) {
    const pa = arena.i32[(a.base + 80) / 4 + j] >>> 0;
    const pb = arena.i32[(b.base + 80) / 4 + j] >>> 0;
    const bytes = lengths[j] * ARRAY_BYTES[j];
    if ((pa === 0) !== (bytes === 0) || (pb === 0) !== (bytes === 0)) return `array ${ARRAY_NAMES[j]}: offsets ${pa} and ${pb} for ${bytes} bytes`;
    if (Buffer.compare(arena.u8.subarray(pa, pa + bytes), arena.u8.subarray(pb, pb + bytes)) === 0) continue;
    let i = 0;
    while (arena.u8[pa + i] === arena.u8[pb + i]) i++;
    return `array ${ARRAY_NAMES[j]}, byte ${i}: ${arena.u8[pa + i]} against ${arena.u8[pb + i]}`;
  }
  return null;
}

interface Geometry {
  entries: number;
  ways: number;
  mode?: 'scan' | 'indexed';
}

const GEOMETRIES: Geometry[] = [
  { entries: 16, ways: 4 }, // ntlb-like, 4 sets
  { entries: 64, ways: 4 },
  { entries: 8, ways: 8 },
  { entries: 32, ways: 8 },
  { entries: 36, ways: 12 }, // 3 sets: index by modulo
  { entries: 48, ways: 12 },
  { entries: 32, ways: 16 }, // fingerprinted
  { entries: 48, ways: 16 }, // fingerprinted, 3 sets
  { entries: 72, ways: 24 }, // fingerprinted, 3 sets of 24
  { entries: 64, ways: 64 }, // indexed (fully associative L1)
  { entries: 72, ways: 72 },
  { entries: 16, ways: 4, mode: 'indexed' },
  { entries: 36, ways: 12, mode: 'indexed' },
  { entries: 64, ways: 64, mode: 'scan' }, // fingerprinted scan of 64 ways
  { entries: 18, ways: 18, mode: 'scan' }, // wide, not a multiple of four: no fingerprints
  { entries: 0, ways: 4 },
];

const TAGS = [0, TAG_SPAN, 5 * TAG_SPAN];

/** A page number: mostly from a small pool (hits, evictions), some above 2^31 and near 2^36 (keys past 32 bits). */
function pageNumber(rng: Rng, pool: number): number {
  const p = rng.nextInt(pool);
  const r = rng.nextInt(8);
  return r < 5 ? p : r < 7 ? 2 ** 31 - 3 + p : 2 ** 36 - pool + p;
}

/**
 * Apply `steps` random operations to `ts` (TypeScript only) and `mixed` (lookups and inserts
 * through WebAssembly with probability `wasmShare`, the rest through TypeScript), comparing the
 * results and the regions after each step.
 */
function runDifferential(g: Geometry, seed: number, steps: number, wasmShare: number): void {
  const x = wasm!;
  const rng = new Rng(seed);
  const ts = new TranslationCache('ts', g.entries, g.ways, g.mode);
  const mixed = new TranslationCache('mixed', g.entries, g.ways, g.mode);
  const pool = Math.max(4, g.entries * 2);
  const lookup = (p: number, s: number) => {
    const expected = ts.lookup(p, s);
    const got = rng.nextFloat() < wasmShare ? x.cacheLookup(mixed.base, p, s) : mixed.lookup(p, s);
    return { expected, got };
  };
  const insert = (p: number, s: number, v: number, f: number) => {
    const expected = ts.insert(p, s, v, f);
    const got = rng.nextFloat() < wasmShare ? x.cacheInsert(mixed.base, p, s, v, f) : mixed.insert(p, s, v, f);
    return { expected, got };
  };
  const log: string[] = [];
  for (let step = 0; step < steps; step++) {
    const op = rng.nextInt(100);
    const p = pageNumber(rng, pool);
    const s = rng.nextInt(3);
    let r: { expected: number | boolean; got: number | boolean };
    if (op < 40) {
      r = lookup(p, s);
      log.push(`lookup ${p} ${s}`);
      // The fill after a miss, the common pair on the walker's path.
      if (r.expected === -1 && r.got === -1 && rng.nextInt(3) > 0) {
        const v = rng.nextInt(2 ** 28);
        r = insert(p, s, v, rng.nextInt(4));
        log.push(`insert ${p} ${s} after the miss`);
      }
    } else if (op < 80) {
      r = insert(p, s, rng.nextInt(2 ** 28), rng.nextInt(4));
      log.push(`insert ${p} ${s}`);
    } else if (op < 92) {
      r = { expected: ts.invalidate(p, s), got: mixed.invalidate(p, s) };
      log.push(`invalidate ${p} ${s}`);
    } else if (op < 96) {
      const tag = TAGS[rng.nextInt(TAGS.length)];
      ts.tagBase = mixed.tagBase = tag;
      r = { expected: 0, got: 0 };
      log.push(`tagBase ${tag}`);
    } else if (op < 99) {
      const tag = TAGS[rng.nextInt(TAGS.length)];
      r = { expected: ts.flushTag(tag), got: mixed.flushTag(tag) };
      log.push(`flushTag ${tag}`);
    } else {
      r = { expected: ts.flush(), got: mixed.flush() };
      log.push('flush');
    }
    const context = () => `${g.entries}/${g.ways}${g.mode ? ` ${g.mode}` : ''}, seed ${seed}, step ${step}: ${log.slice(-6).join('; ')}`;
    if (r.expected !== r.got) assert.fail(`${context()}: returned ${String(r.got)}, TypeScript ${String(r.expected)}`);
    const difference = regionDifference(ts, mixed);
    if (difference !== null) assert.fail(`${context()}: ${difference}`);
  }
  assert.equal(mixed.indexProblem(), null);
}

describe('cacheLookup / cacheInsert against TranslationCache.lookup / insert', { skip }, () => {
  for (const g of GEOMETRIES) {
    const name = `${g.entries} entries, ${g.ways} ways${g.mode ? `, ${g.mode} mode forced` : ''}`;
    it(`${name}: every lookup and insert in WebAssembly`, () => {
      for (let seed = 1; seed <= 3; seed++) runDifferential(g, seed, 1500, 1);
    });
    it(`${name}: TypeScript and WebAssembly on the same cache, interleaved`, () => {
      for (let seed = 11; seed <= 13; seed++) runDifferential(g, seed, 1500, 0.5);
    });
  }
});

// ---- translate / walk against VCpu.translateSlow ----

/** The VCpu internals this comparison drives and reads (the TypeScript path under test). */
interface VcpuInternals {
  /** The vCPU's block for the WebAssembly path (descriptor, output, walk references). */
  desc: number;
  walkGva: number;
  outHpa: number;
  fastBase: number;
  fastHostBase: number;
  fastSize: number;
  translateSlow(write: boolean): number;
  walkRef(line: number, guestDimension: boolean): number;
}

/** Every translation structure of a core, in a fixed order. */
function structures(core: Core): TranslationCache[] {
  return [...core.l1.map((a) => a.cache), ...core.l2.map((a) => a.cache), ...core.guestPsc.slice(2), ...core.hostPsc.slice(2), core.ntlb];
}

/** A machine with one vCPU on a demand-mapped space; `wasmAccessPath` as in MachineOptions. */
function twin(cpu: CpuPreset, guestPageSize: PageSize, hostPageSize: PageSize | null, wasmAccessPath: boolean) {
  const tiers = new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]);
  const machine = new Machine(cpu, tiers, { wasmAccessPath });
  const space = new FlatSpace({ guestPageSize, hostPageSize });
  const vcpu = new VCpu(machine, space, 0);
  vcpu.core.switchTo(vcpu);
  return { space, vcpu, internals: vcpu as unknown as VcpuInternals };
}

const COUNTERS = ['l1TlbMisses', 'l2TlbMisses', 'walks', 'pscHits', 'pscMisses', 'ntlbHits', 'ntlbMisses', 'guestFaults', 'eptViolations'] as const;
const SIZE_COUNTERS = ['l1TlbHits', 'l2TlbHits', 'walksBySize'] as const;

/** The counters `translate`'s outputs stand for (what VCpu adds), as one flat list. */
function countersOf(v: VCpu): number[] {
  const c = v.counters;
  return [...COUNTERS.map((k) => c[k]), ...SIZE_COUNTERS.flatMap((k) => [...c[k]])];
}

type Twin = ReturnType<typeof twin>;

/**
 * What VCpu does around the WebAssembly path, on `m` with the descriptor `desc`: `translate`, then
 * after each fault the handler and `walk` again; the counters the statuses imply, the references
 * of every attempt in order (line, dimension) into `refs`. Returns the statuses of the attempts.
 */
function translateLikeVcpu(m: Twin, desc: number, gva: number, write: boolean, refs: number[]): number[] {
  const x = wasm!;
  const out = desc / 8 + 32;
  const c = m.vcpu.counters;
  const guestPt = m.space.guest.base;
  const ept = m.space.ept === null ? 0 : m.space.ept.base;
  const statuses = [x.translate(desc, gva, write ? 1 : 0, guestPt, ept)];
  for (;;) {
    const status = statuses[statuses.length - 1];
    for (let r = 0; r < arena.f64[out + 8]; r++) refs.push(arena.f64[desc / 8 + 64 + r], arena.u8[desc + 1024 + r]);
    // The walker's hits and misses go to the pending counters, which `counters` adds.
    const size = arena.f64[out + 2];
    if (statuses.length === 1) {
      if (status === 0) c.l1TlbHits[size]++;
      else c.l1TlbMisses++;
      if (status === 1) c.l2TlbHits[size]++;
      else if (status >= 2) {
        c.l2TlbMisses++;
        c.walks++;
      }
    }
    if (status === 2) c.walksBySize[size]++;
    if (status < 3) return statuses;
    if (status === 3) {
      c.guestFaults++;
      m.space.guestPageFault(arena.f64[out + 6], arena.f64[out + 7] === 1);
    } else {
      c.eptViolations++;
      m.space.eptViolation(arena.f64[out + 6], arena.f64[out + 7] === 1);
    }
    statuses.push(x.walk(desc, gva, write ? 1 : 0, guestPt, ept));
  }
}

/**
 * Write-protect the page of `gva` in one dimension on both machines and drop its TLB entries (or
 * leave them stale): writes then fault, and the handlers map the page writable again.
 */
function writeProtect(machines: Twin[], gva: number, guestDimension: boolean, invalidate: boolean): void {
  for (const m of machines) {
    const gpa = m.space.guest.translate(gva);
    if (m.space.ept === null || guestDimension) m.space.guest.protect(gva, false);
    else if (gpa >= 0) m.space.ept.protect(gpa, false);
    if (invalidate) m.vcpu.invalidatePage(gva);
  }
}

/**
 * Translate random addresses on two identical machines: through `translateSlow` on one, through
 * `translate` (and `walk` after each fault) on the other. Compares per translation the host
 * address, the L1 entry that becomes the fast page, the walk's references in order, the counters,
 * and every structure's region.
 */
function runTranslations(cpu: CpuPreset, guestPageSize: PageSize, hostPageSize: PageSize | null, seed: number, steps: number): void {
  // The TypeScript path on one; on the other, its vCPU's descriptor (VCpu fills it in), used here
  // call by call.
  const a = twin(cpu, guestPageSize, hostPageSize, false);
  const b = twin(cpu, guestPageSize, hostPageSize, true);
  const desc = b.internals.desc;
  const out = desc / 8 + 32;
  const refsTs: number[] = [];
  const walkRef = a.internals.walkRef.bind(a.vcpu);
  a.internals.walkRef = (line, guestDimension) => {
    refsTs.push(line, guestDimension ? 1 : 0);
    return walkRef(line, guestDimension);
  };
  const structuresA = structures(a.vcpu.core);
  const structuresB = structures(b.vcpu.core);
  const rng = new Rng(seed);
  const seen = new Set<number>();
  // A few hot regions (L1 and L2 hits, evictions between them) and now and then anywhere in 4 GiB.
  const regions = Array.from({ length: 6 }, () => a.space.base + rng.nextInt(2 ** 32));
  for (let step = 0; step < steps; step++) {
    const r = rng.nextInt(8);
    const gva = r === 7 ? a.space.base + rng.nextInt(2 ** 32) : regions[r % 6] + rng.nextInt(r < 4 ? 128 * 4096 : 2 ** 26);
    const write = rng.nextInt(3) === 0;
    if (rng.nextInt(16) === 0) writeProtect([a, b], gva, rng.nextInt(2) === 0, rng.nextInt(4) > 0);
    refsTs.length = 0;
    a.internals.walkGva = gva;
    a.internals.translateSlow(write);
    const refs: number[] = [];
    const statuses = translateLikeVcpu(b, desc, gva, write, refs);
    for (const s of statuses) seen.add(s);
    const where = `${cpu.name} ${guestPageSize}/${hostPageSize}, seed ${seed}, step ${step}, gva 0x${gva.toString(16)}${write ? ' write' : ''}, statuses ${statuses.join(' ')}`;
    assert.equal(arena.f64[out + 1], a.internals.outHpa, `${where}: host address`);
    const l1Size = arena.f64[out + 4];
    if (l1Size < 0) assert.equal(a.internals.fastBase, -1, `${where}: no L1 entry, so no fast page`);
    else {
      assert.equal(l1Size, a.internals.fastSize, `${where}: the fast page's size`);
      assert.equal(arena.f64[out + 5] * 4096, a.internals.fastHostBase, `${where}: the fast page's frame`);
    }
    assert.deepEqual(refs, refsTs, `${where}: walk references (line, dimension)`);
    assert.deepEqual(countersOf(b.vcpu), countersOf(a.vcpu), `${where}: counters ${COUNTERS.join(' ')} ${SIZE_COUNTERS.join(' ')}`);
    for (let k = 0; k < structuresA.length; k++) {
      const difference = regionDifference(structuresA[k], structuresB[k]);
      if (difference !== null) assert.fail(`${where}: ${structuresA[k].name}: ${difference}`);
    }
  }
  // The sequence reached every outcome a translation can have here.
  for (const s of hostPageSize === null ? [0, 1, 2, 3] : [0, 1, 2, 3, 4]) assert.ok(seen.has(s), `${cpu.name} ${guestPageSize}/${hostPageSize}: no translation ended with status ${s}`);
}

describe('translate / walk against VCpu.translateSlow', { skip }, () => {
  const spaces: [PageSize, PageSize | null][] = [
    [PageSize.Size4K, null],
    [PageSize.Size2M, null],
    [PageSize.Size4K, PageSize.Size4K],
    [PageSize.Size4K, PageSize.Size2M],
    [PageSize.Size2M, PageSize.Size4K],
    [PageSize.Size2M, PageSize.Size2M],
  ];
  // Every lookup mode at every call site of the walk: paging-structure caches and nested TLBs of
  // modulo-indexed sets (with and without fingerprints), fully associative and indexed ones, an L2
  // TLB of modulo sets with fingerprints.
  const odd: CpuPreset = {
    ...CPU_PRESETS.zen2,
    name: 'zen2-odd',
    l2Tlb: [{ entries: 96 * 16, ways: 16, sizes: [PageSize.Size4K, PageSize.Size2M] }],
    psc: { l4: [3, 3], l3: [48, 16], l2: [40, 20] },
    ntlb: [3 * 8, 8],
  };
  const oddIndexed: CpuPreset = { ...odd, name: 'zen2-odd-indexed', psc: { l4: [32, 32], l3: [16, 16], l2: [12, 4] }, ntlb: [64, 32] };
  const cpus = [CPU_PRESETS.zen2, CPU_PRESETS.icelake, CPU_PRESETS.zen4, withoutTranslationCaches(CPU_PRESETS.zen2), odd, oddIndexed];
  it('the presets take the walk with their walker caches compiled in, the other shapes the one that reads them', () => {
    // The descriptor's slot 60 (vcpu.ts DESC_PRESET_WALKER): so the runs below cover both copies of the walk.
    const presetWalker = (cpu: CpuPreset) => arena.i32[twin(cpu, PageSize.Size4K, PageSize.Size4K, true).internals.desc / 4 + 60];
    assert.deepEqual(cpus.map(presetWalker), [1, 1, 1, 0, 0, 0]);
    for (const name of Object.keys(CPU_PRESETS)) assert.equal(presetWalker(CPU_PRESETS[name]), 1, name);
  });
  for (const cpu of cpus) {
    it(`${cpu.name}: native 4K and 2M, nested 4K/4K, 4K/2M, 2M/4K, 2M/2M`, () => {
      for (const [g, h] of spaces) runTranslations(cpu, g, h, 7, 1500);
    });
  }
});
