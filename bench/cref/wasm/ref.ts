/**
 * The access path of the C reference (`../ref.c`) in WebAssembly, compiled from AssemblyScript by
 * `bench/cref.ts` (`asc -O3 --runtime stub --noAssert`, into build/cref/): one vCPU of the Zen 2
 * preset, nested 4K/4K, translation only, the same access streams and the same decisions. Two of
 * this model's own structures replace the C program's plain ones, because they are what a
 * WebAssembly access path of the model would use: LRU sets kept in recency order (the rings of
 * src/hw/tlb.ts, where the C program scans last-use stamps; the fully associative L1 is scanned
 * too, with the most recently used way first) and the line window of src/hw/vcpu.ts (accesses
 * inside the line of the previous access, on the page of the previous translation, are counted in
 * bulk when the window closes). Everything else follows ref.c step by step: the walk, the
 * paging-structure caches, the nested TLB, faults that map on first touch, the stream prefetcher
 * as a plain scan. `bench/cref.ts` compares its 19 counters with the C program's before it
 * quotes a speed. Array accesses are unchecked (indices stay in range by construction, as in C).
 * Not part of the simulator: a measurement of what the language and these structures give.
 */
const ENTRIES: i32 = 512;
const INVALID: u64 = u64.MAX_VALUE;
const SEQ_CYCLES: u32 = 180;
const RAND_CYCLES: u32 = 225;
const L2_TLB_CYCLES: u32 = 7;

class Tlb {
  sets: i32;
  ways: i32;
  key: StaticArray<u64>;
  value: StaticArray<u64>;
  front: StaticArray<u8>;
  missed: u64 = INVALID;
  valid: i32 = 0;
  constructor(entries: i32, ways: i32) {
    this.sets = entries / ways;
    this.ways = ways;
    this.key = new StaticArray<u64>(entries);
    this.value = new StaticArray<u64>(entries);
    this.front = new StaticArray<u8>(entries / ways);
    for (let i = 0; i < entries; i++) unchecked((this.key[i] = INVALID));
  }
  raise(set: i32, i: i32): i32 {
    const ways = this.ways;
    const base = set * ways;
    const f = <i32>unchecked(this.front[set]);
    let p = i - base;
    if (p == f) return i;
    const k = unchecked(this.key[i]);
    const v = unchecked(this.value[i]);
    while (p != f) {
      const q = p == 0 ? ways - 1 : p - 1;
      unchecked((this.key[base + p] = this.key[base + q]));
      unchecked((this.value[base + p] = this.value[base + q]));
      p = q;
    }
    unchecked((this.key[base + f] = k));
    unchecked((this.value[base + f] = v));
    return base + f;
  }
  @inline lookup(number: u64): i32 {
    const k = number * 4;
    const set = <i32>(number & <u64>(this.sets - 1));
    const base = set * this.ways;
    const key = this.key;
    const mru = base + <i32>unchecked(this.front[set]);
    if (unchecked(key[mru]) == k) return mru;
    const end = base + this.ways;
    for (let i = base; i < end; i++) if (unchecked(key[i]) == k) return this.raise(set, i);
    this.missed = k;
    return -1;
  }
  @inline insert(number: u64, value: u64): void {
    const k = number * 4;
    const set = <i32>(number & <u64>(this.sets - 1));
    const ways = this.ways;
    const base = set * ways;
    if (k != this.missed) {
      const end = base + ways;
      for (let i = base; i < end; i++) {
        if (unchecked(this.key[i]) == k) {
          unchecked((this.value[this.raise(set, i)] = value));
          return;
        }
      }
    }
    this.missed = INVALID;
    const f = <i32>unchecked(this.front[set]);
    const nf = f == 0 ? ways - 1 : f - 1;
    unchecked((this.front[set] = <u8>nf));
    const victim = base + nf;
    if (unchecked(this.key[victim]) == INVALID) this.valid++;
    unchecked((this.key[victim] = k));
    unchecked((this.value[victim] = value));
  }
}

const MAX_TABLES: i32 = 8192;
class Pt {
  entry: StaticArray<u32> = new StaticArray<u32>(MAX_TABLES * ENTRIES);
  frame: StaticArray<u64> = new StaticArray<u64>(MAX_TABLES);
  count: u32 = 0;
  root: u32 = 0;
  nextFrame: u64;
  host: bool;
  constructor(first: u64, host: bool) {
    this.nextFrame = first;
    this.host = host;
    this.root = this.newTable();
  }
  newTable(): u32 {
    const t = this.count++;
    // The EPT's table pages come from the host frames, in one order with the data pages (as in ref.c).
    unchecked((this.frame[t] = this.host ? hostNext++ : this.nextFrame++));
    return t;
  }
  map(addr: u64, frame: u64): void {
    let t = this.root;
    for (let level = 4; level > 1; level--) {
      const slot = <i32>t * ENTRIES + <i32>((addr >> (12 + 9 * (<u64>level - 1))) & 511);
      const e = unchecked(this.entry[slot]);
      if (!(e & 1)) {
        const c = this.newTable();
        unchecked((this.entry[slot] = c * 8 + 3));
        t = c;
      } else t = e >> 3;
    }
    unchecked((this.entry[<i32>t * ENTRIES + <i32>((addr >> 12) & 511)] = <u32>(frame * 8 + 3)));
  }
}

// counters
let accesses: u64 = 0, l1Hits: u64 = 0, l1Misses: u64 = 0, l2Hits: u64 = 0, l2Misses: u64 = 0, walks: u64 = 0;
let walkRefs: u64 = 0, walkRefsGuest: u64 = 0, walkRefsHost: u64 = 0, pscHits: u64 = 0, pscMisses: u64 = 0, ntlbHits: u64 = 0, ntlbMisses: u64 = 0;
let guestFaults: u64 = 0, eptViolations: u64 = 0, dataMem: u64 = 0, translationCycles: u64 = 0, walkCycles: u64 = 0, dataCycles: u64 = 0;

const l1 = new Tlb(64, 64);
const l2 = new Tlb(2048, 16);
const ntlb = new Tlb(32, 4);
const gpsc: StaticArray<Tlb> = [new Tlb(4, 4), new Tlb(4, 4), new Tlb(32, 8), new Tlb(8, 4), new Tlb(4, 4)];
const hpsc: StaticArray<Tlb> = [new Tlb(4, 4), new Tlb(4, 4), new Tlb(32, 8), new Tlb(8, 4), new Tlb(4, 4)];
let hostNext: u64 = 0;
const guest = new Pt(<u64>1 << 30, false);
const ept = new Pt(0, true);
let nextDataGfn: u64 = 0;
let walkGva: u64 = 0, outHpa: u64 = 0, nestedHpa: u64 = 0;
let faulted = false;
let fastBase: u64 = INVALID, fastLimit: u64 = 0, fastHost: u64 = 0;
let lastLine: i64 = -1, lastTierLine: i64 = -2;
let repeatCycles: u32 = 0;

const STREAMS = 32;
const streamLast = new StaticArray<i64>(STREAMS);
const streamPage = new StaticArray<i64>(STREAMS);
const streamStride = new StaticArray<i32>(STREAMS);
const streamConfirmed = new StaticArray<u8>(STREAMS);
let streamVictim = 0;
let prefetchedCycles: u32 = 0;

function prefetchInit(): void {
  for (let i = 0; i < STREAMS; i++) {
    unchecked((streamLast[i] = -1));
    unchecked((streamPage[i] = -1));
  }
  const bw = 64.0 / (128.0 / 2.25);
  const miss = <f64>SEQ_CYCLES / 22.0;
  prefetchedCycles = <u32>((bw > miss ? bw : miss) + 0.5);
}

function prefetchCovers(line: i64): bool {
  const page = line >> 6;
  let retrain = -1;
  for (let i = 0; i < STREAMS; i++) {
    if (unchecked(streamPage[i]) != page) continue;
    const d = line - unchecked(streamLast[i]);
    if (d == 0) return false;
    if (d == <i64>unchecked(streamStride[i])) {
      unchecked((streamLast[i] = line));
      const covered = unchecked(streamConfirmed[i]) != 0;
      unchecked((streamConfirmed[i] = 1));
      return covered;
    }
    if (retrain < 0 && d >= -16 && d <= 16) retrain = i;
  }
  if (retrain >= 0) {
    unchecked((streamStride[retrain] = <i32>(line - unchecked(streamLast[retrain]))));
    unchecked((streamConfirmed[retrain] = 0));
    unchecked((streamLast[retrain] = line));
    return false;
  }
  const v = streamVictim;
  streamVictim = v + 1 == STREAMS ? 0 : v + 1;
  unchecked((streamLast[v] = line));
  unchecked((streamPage[v] = page));
  unchecked((streamStride[v] = 0));
  unchecked((streamConfirmed[v] = 0));
  return false;
}

@inline function memoryLatency(line: i64): u32 {
  const d = line - lastTierLine;
  lastTierLine = line;
  return d >= 0 && d <= 1 ? SEQ_CYCLES : RAND_CYCLES;
}

@inline function walkRef(line: i64, guestDim: bool): u32 {
  walkRefs++;
  if (guestDim) walkRefsGuest++;
  else walkRefsHost++;
  lastLine = -1;
  return memoryLatency(line);
}

function guestFault(gva: u64): u32 {
  guestFaults++;
  faulted = true;
  guest.map(gva - (gva & 4095), nextDataGfn++);
  return 0;
}

function eptFault(gpa: u64): u32 {
  eptViolations++;
  faulted = true;
  const frame = hostNext++;
  ept.map(gpa - (gpa & 4095), frame);
  return 0;
}

function nestedTranslate(gpaFrame: u64, offset: u64): u32 {
  const gpa = gpaFrame * 4096 + offset;
  if (ntlb.valid > 0) {
    const way = ntlb.lookup(gpa >> 12);
    if (way >= 0) {
      ntlbHits++;
      nestedHpa = unchecked(ntlb.value[way]) * 4096 + (gpa & 4095);
      return 0;
    }
  }
  ntlbMisses++;
  let cycles: u32 = 0;
  let t: u32 = ept.root;
  let level = 4;
  for (let L = 2; L <= 4; L++) {
    const psc = unchecked(hpsc[L]);
    if (psc.valid == 0) continue;
    const way = psc.lookup(gpa >> (12 + 9 * (<u64>L - 1)));
    if (way >= 0) {
      pscHits++;
      t = <u32>unchecked(psc.value[way]);
      level = L - 1;
      break;
    }
  }
  for (; level >= 1; level--) {
    const index = <i32>((gpa >> (12 + 9 * (<u64>level - 1))) & 511);
    cycles += walkRef(<i64>(unchecked(ept.frame[t]) * 64 + <u64>(index >> 3)), false);
    const e = unchecked(ept.entry[<i32>t * ENTRIES + index]);
    if (!(e & 1)) return cycles + eptFault(gpa);
    const payload = e >> 3;
    if (level == 1) {
      nestedHpa = <u64>payload * 4096 + (gpa & 4095);
      ntlb.insert(gpa >> 12, payload);
      return cycles;
    }
    unchecked(hpsc[level]).insert(gpa >> (12 + 9 * (<u64>level - 1)), payload);
    t = payload;
  }
  return cycles;
}

@inline function setFast(pageFrame: u64): void {
  fastBase = walkGva - (walkGva & 4095);
  fastLimit = fastBase + 4096;
  fastHost = pageFrame * 4096;
  outHpa = fastHost + (walkGva & 4095);
}

function walkNested(): u32 {
  const gva = walkGva;
  let cycles: u32 = 0;
  let t: u32 = guest.root;
  let level = 4;
  for (let L = 2; L <= 4; L++) {
    const psc = unchecked(gpsc[L]);
    if (psc.valid == 0) continue;
    const way = psc.lookup(gva >> (12 + 9 * (<u64>L - 1)));
    if (way >= 0) {
      pscHits++;
      t = <u32>unchecked(psc.value[way]);
      level = L - 1;
      break;
    }
  }
  if (level == 4) pscMisses++;
  for (; level >= 1; level--) {
    const index = <i32>((gva >> (12 + 9 * (<u64>level - 1))) & 511);
    cycles += nestedTranslate(unchecked(guest.frame[t]), <u64>index * 8);
    if (faulted) return cycles;
    cycles += walkRef(<i64>(nestedHpa >> 6), true);
    const e = unchecked(guest.entry[<i32>t * ENTRIES + index]);
    if (!(e & 1)) return cycles + guestFault(gva);
    const payload = e >> 3;
    if (level == 1) {
      cycles += nestedTranslate(payload, gva & 4095);
      if (faulted) return cycles;
      outHpa = nestedHpa;
      const frame = outHpa >> 12;
      l2.insert(gva >> 12, frame);
      l1.insert(gva >> 12, frame);
      setFast(frame);
      return cycles;
    }
    unchecked(gpsc[level]).insert(gva >> (12 + 9 * (<u64>level - 1)), payload);
    t = payload;
  }
  return cycles;
}

function walk(): u32 {
  walks++;
  let cycles: u32 = 0;
  const gva = walkGva;
  for (let attempt = 0; attempt < 8; attempt++) {
    walkGva = gva;
    faulted = false;
    const r = walkNested();
    cycles += r;
    if (!faulted) {
      walkCycles += r;
      return cycles;
    }
  }
  unreachable();
  return 0;
}

function translateSlow(): u32 {
  const gva = walkGva;
  if (l1.valid > 0) {
    const way = l1.lookup(gva >> 12);
    if (way >= 0) {
      l1Hits++;
      setFast(unchecked(l1.value[way]));
      return 0;
    }
  }
  l1Misses++;
  let cycles = L2_TLB_CYCLES;
  if (l2.valid > 0) {
    const way = l2.lookup(gva >> 12);
    if (way >= 0) {
      l2Hits++;
      const frame = unchecked(l2.value[way]);
      l1.insert(gva >> 12, frame);
      setFast(frame);
      translationCycles += cycles;
      return cycles;
    }
  }
  l2Misses++;
  cycles += walk();
  translationCycles += cycles;
  return cycles;
}

let lineLo: u64 = 0, lineHi: u64 = 0, windowLoads: u64 = 0;
function settle(): void {
  const n = windowLoads;
  if (n == 0) return;
  accesses += n;
  l1Hits += n;
  dataMem += n;
  dataCycles += n * <u64>repeatCycles;
  windowLoads = 0;
}
@inline function load(gva: u64): u32 {
  if (gva >= lineLo && gva + 8 <= lineHi) {
    windowLoads++;
    return repeatCycles;
  }
  return loadOutside(gva);
}
function loadOutside(gva: u64): u32 {
  settle();
  accesses++;
  let cycles: u32 = 0;
  let hpa: u64;
  if (gva >= fastBase && gva < fastLimit) {
    l1Hits++;
    hpa = fastHost + (gva - fastBase);
  } else {
    walkGva = gva;
    cycles = translateSlow();
    hpa = outHpa;
  }
  const line = <i64>(hpa >> 6);
  let data: u32;
  dataMem++;
  if (line == lastLine) data = repeatCycles;
  else {
    lastLine = line;
    if (prefetchCovers(line)) {
      lastTierLine = line;
      data = prefetchedCycles;
    } else data = memoryLatency(line);
    repeatCycles = SEQ_CYCLES;
  }
  dataCycles += data;
  if (gva >= fastBase && gva < fastLimit) {
    lineLo = gva - (hpa & 63);
    lineHi = lineLo + 64;
  } else {
    lineLo = lineHi = 0;
  }
  return cycles + data;
}

// xoroshiro128+ as pure-rand's, 32-bit halves
let s01: u32 = 0, s00: u32 = 0, s11: u32 = 0, s10: u32 = 0;
function rngNext(): u32 {
  const out = s00 + s10;
  const a0 = s10 ^ s00, a1 = s11 ^ s01;
  const o00 = s00, o01 = s01;
  s00 = (o00 << 24) ^ (o01 >>> 8) ^ a0 ^ (a0 << 16);
  s01 = (o01 << 24) ^ (o00 >>> 8) ^ a1 ^ ((a1 << 16) | (a0 >>> 16));
  s10 = (a1 << 5) ^ (a0 >>> 27);
  s11 = (a0 << 5) ^ (a1 >>> 27);
  return out;
}

const BASE: u64 = 0x400000000000;
let addrs: StaticArray<u64> = new StaticArray<u64>(0);
let sink: u64 = 0;

/**
 * `spanBits`: the random stream's region is 2^spanBits bytes (32: 4 GiB). The stream draws `drawn`
 * addresses (at least `n`; as ref.c's DRAWN) of which `run` accesses the first `n`.
 */
export function setup(mode: i32, n: i32, spanBits: i32, drawn: i32): void {
  prefetchInit();
  if (mode == 0) {
    const span: u64 = 64 << 20;
    for (let off: u64 = 0; off < span; off += 4096) sink += load(BASE + off);
  } else {
    const span: u64 = <u64>1 << <u64>spanBits;
    for (let off: u64 = 0; off < span; off += 4096) sink += load(BASE + off);
    s01 = 0xffffffff;
    s00 = ~42;
    s11 = 42;
    s10 = 0;
    const count = drawn > n ? drawn : n;
    addrs = new StaticArray<u64>(count);
    for (let i = 0; i < count; i++) {
      const hi = <u64>(rngNext() >>> 5);
      const lo = <u64>(rngNext() >>> 6);
      unchecked((addrs[i] = BASE + ((((hi << 26) | lo)) >> <u64>(56 - spanBits)) * 8));
    }
  }
}

export function run(mode: i32, n: i32): u64 {
  let total: u64 = 0;
  if (mode == 0) {
    const span: u64 = 64 << 20;
    let addr: u64 = 0;
    for (let i = 0; i < n; i++) {
      total += load(BASE + addr);
      addr += 8;
      if (addr >= span) addr = 0;
    }
  } else {
    for (let i = 0; i < n; i++) total += load(unchecked(addrs[i]));
  }
  return total;
}

export function counter(i: i32): u64 {
  settle();
  const c: StaticArray<u64> = [accesses, l1Hits, l1Misses, l2Hits, l2Misses, walks, walkRefs, walkRefsGuest, walkRefsHost, pscHits, pscMisses, ntlbHits, ntlbMisses, guestFaults, eptViolations, dataMem, translationCycles, walkCycles, dataCycles];
  return c[i];
}
