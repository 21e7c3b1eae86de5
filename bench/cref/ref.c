/*
 * The C reference of the access-path benchmark (`npm run bench`, group `cref`): a plain C model of
 * the translation structures of src/hw for one vCPU of the Zen 2 preset, nested 4 KiB / 4 KiB
 * paging, no data cache (the `translationOnly` preset), one DDR4 tier.
 *
 *   L1 DTLB    64 entries, fully associative, LRU
 *   L2 TLB     2048 entries, 16-way, LRU, 7 cycles
 *   PSC        per dimension, levels 4/3/2: 4x4, 8x4, 32x8 entries x ways (ChampSim's), LRU
 *   nested TLB 32 entries, 4-way, LRU
 *   walk       2-D over 4-level radix tables (Bhargava et al., ASPLOS'08), faults map on demand
 *   memory     DDR4 at 2.25 GHz: 180 cycles for a line adjacent to the previous one, else 225
 *   prefetch   the stream prefetcher of src/hw/core.ts (32 streams, next-line and stride within a
 *              4 KiB page): a data line a detected stream covers costs its bandwidth share, 8 cycles
 *
 * It follows the reference sequence and the replacement decisions of src/hw/vcpu.ts step by step,
 * so it computes the same counters and cycles; the harness (bench/cref.ts) compares them with
 * ours before it quotes a speed ratio, so the ratio compares the same work. What it leaves out of
 * src/hw: page sizes other than 4 KiB, stores, data caches, invalidations, several vCPUs and
 * tiers. Written plainly: one struct per structure, LRU by last-use stamps with a scan of the set
 * (first invalid way, else the oldest stamp), page-table entries of 32 bits as in src/hw. Like ours
 * it remembers the most recent translation (an L1 hit on the most recently used entry changes no
 * LRU order); it has no line window and counts every access as it happens.
 *
 * Usage: ref seq N | ref rand N [SPAN_BITS [DRAWN]]. `rand` draws over 2^SPAN_BITS bytes (default
 * 32, 4 GiB; 28, 256 MiB, keeps the leaf tables within the simulating host's caches); it draws
 * DRAWN addresses (default N, at least N) and accesses the first N, so that two runs that differ
 * only in N do the same work outside the timed loop (bench/icount.ts). Prints one JSON line: the
 * timed accesses, their wall and CPU time and the counters of the timed region.
 */
#define _DEFAULT_SOURCE /* clock_gettime, and mmap's MAP_ANONYMOUS and madvise's MADV_HUGEPAGE */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define ENTRIES 512
#define MAX_TABLES (1u << 20) /* per table set: enough for a 2^40-byte span */
#define INVALID UINT64_MAX
#define SEQ_CYCLES 180  /* round(80 ns * 2.25 GHz) */
#define RAND_CYCLES 225 /* round(100 ns * 2.25 GHz) */
#define L2_TLB_CYCLES 7
#define MAX_FAULT_RETRIES 8

/* ---- set-associative LRU translation cache ---- */
typedef struct {
  int sets, ways;
  uint64_t *key; /* page (or prefix) number * 4 + size id; INVALID when empty */
  uint64_t *value;
  uint64_t *stamp;
  uint64_t clock;
  int valid;
} tlb_t;

static void tlb_init(tlb_t *t, int entries, int ways) {
  t->sets = entries / ways;
  t->ways = ways;
  t->key = malloc(sizeof(uint64_t) * entries);
  t->value = calloc(entries, sizeof(uint64_t));
  t->stamp = calloc(entries, sizeof(uint64_t));
  for (int i = 0; i < entries; i++) t->key[i] = INVALID;
  t->clock = 0;
  t->valid = 0;
}

/* Way holding `number` (size 4 KiB), refreshed as most recently used; -1 on a miss. */
static inline int tlb_lookup(tlb_t *t, uint64_t number) {
  uint64_t k = number * 4;
  int base = (int)(number & (uint64_t)(t->sets - 1)) * t->ways;
  for (int i = base; i < base + t->ways; i++) {
    if (t->key[i] == k) {
      t->stamp[i] = ++t->clock;
      return i;
    }
  }
  return -1;
}

/* Insert or refresh `number`: the entry itself, else the first invalid way, else the oldest. */
static inline void tlb_insert(tlb_t *t, uint64_t number, uint64_t value) {
  uint64_t k = number * 4;
  int base = (int)(number & (uint64_t)(t->sets - 1)) * t->ways;
  int victim = -1;
  for (int i = base; i < base + t->ways; i++) {
    if (t->key[i] == k) {
      victim = i;
      break;
    }
  }
  if (victim < 0) {
    for (int i = base; i < base + t->ways; i++) {
      if (t->key[i] == INVALID) {
        victim = i;
        break;
      }
      if (victim < 0 || t->stamp[i] < t->stamp[victim]) victim = i;
    }
    if (t->key[victim] == INVALID) t->valid++;
  }
  t->key[victim] = k;
  t->value[victim] = value;
  t->stamp[victim] = ++t->clock;
}

/* ---- page tables: 4 levels, 32-bit entries `payload * 8 + flags`, table pages in frames ---- */
typedef struct {
  uint32_t *entry;
  uint64_t *frame; /* frame of each table page */
  uint32_t count;
  uint32_t root;
  uint64_t *next_frame; /* the frame source the table pages come from */
} pt_t;

/*
 * Storage for a table set, reserved once (address space only; Linux commits a page on first
 * touch), as src/hw/arena.ts reserves the model's memory, and like it advised to be backed by
 * 2 MiB pages unless UNIMEM_HUGEPAGES=0: the two sides then read their tables through the same
 * kind of host pages (docs/machine.md, "Huge pages for the arena").
 */
static void *reserve(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    fprintf(stderr, "ref: cannot reserve %zu bytes\n", bytes);
    exit(1);
  }
  const char *advice = getenv("UNIMEM_HUGEPAGES");
  if (!(advice && !strcmp(advice, "0"))) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

static uint32_t pt_new_table(pt_t *p) {
  if (p->count == MAX_TABLES) {
    fprintf(stderr, "ref: more than %u table pages\n", MAX_TABLES);
    exit(1);
  }
  uint32_t t = p->count++;
  p->frame[t] = (*p->next_frame)++;
  return t; /* its entries are still zero: reserved memory reads zero until written */
}

static void pt_init(pt_t *p, uint64_t *frames) {
  memset(p, 0, sizeof *p);
  p->entry = reserve(sizeof(uint32_t) * ENTRIES * MAX_TABLES);
  p->frame = reserve(sizeof(uint64_t) * MAX_TABLES);
  p->next_frame = frames;
  p->root = pt_new_table(p);
}

/* Map the 4 KiB page at `addr` to `frame` (present, writable), creating tables top-down. */
static void pt_map(pt_t *p, uint64_t addr, uint64_t frame) {
  uint32_t t = p->root;
  for (int level = 4; level > 1; level--) {
    size_t slot = (size_t)t * ENTRIES + ((addr >> (12 + 9 * (level - 1))) & 511);
    uint32_t e = p->entry[slot];
    if (!(e & 1)) {
      uint32_t c = pt_new_table(p);
      p->entry[slot] = c * 8 + 3;
      t = c;
    } else {
      t = e >> 3;
    }
  }
  p->entry[(size_t)t * ENTRIES + ((addr >> 12) & 511)] = (uint32_t)(frame * 8 + 3);
}

/* ---- the vCPU ---- */
typedef struct {
  uint64_t accesses, loads, l1_hits, l1_misses, l2_hits, l2_misses, walks;
  uint64_t walk_refs, walk_refs_guest, walk_refs_host, psc_hits, psc_misses, ntlb_hits, ntlb_misses;
  uint64_t guest_faults, ept_violations, data_mem;
  uint64_t translation_cycles, walk_cycles, data_cycles;
} counters_t;

static counters_t c;
static tlb_t l1, l2, ntlb, gpsc[5], hpsc[5];
static pt_t guest, ept;
static uint64_t host_next = 0;                 /* host frames, in allocation order from 0 */
static uint64_t guest_table_next = 1ull << 30; /* guest table pages at 4 TiB guest-physical */
static uint64_t next_data_gfn = 0;
static uint64_t walk_gva, out_hpa, nested_hpa;
static int faulted;
static uint64_t fast_base = INVALID, fast_limit = 0, fast_host;
static int64_t last_line = -1, last_tier_line = -2;
static uint32_t repeat_cycles;

/* ---- stream prefetcher (src/hw/core.ts prefetchCovers): 32 streams, a plain scan of the table ---- */
#define STREAMS 32
#define MAX_STRIDE_LINES 16
static int64_t stream_last[STREAMS];
static int64_t stream_page[STREAMS];
static int32_t stream_stride[STREAMS];
static uint8_t stream_confirmed[STREAMS];
static int stream_victim = 0;
/* A covered line costs its share of the tier's bandwidth or the miss limit over the sequential
 * latency, whichever is slower: DDR4's 128 GB/s host bandwidth at 2.25 GHz, Zen 2's 22 misses. */
static uint32_t prefetched_cycles;

static void prefetch_init(void) {
  for (int i = 0; i < STREAMS; i++) {
    stream_last[i] = -1;
    stream_page[i] = -1;
  }
  double bandwidth_bound = 64.0 / (128.0 / 2.25);
  double miss_bound = (double)SEQ_CYCLES / 22.0;
  prefetched_cycles = (uint32_t)((bandwidth_bound > miss_bound ? bandwidth_bound : miss_bound) + 0.5);
}

/* Whether a detected stream covers data line `line` (it missed every cache), training the table. */
static inline int prefetch_covers(int64_t line) {
  int64_t page = line >> 6;
  int retrain = -1;
  for (int i = 0; i < STREAMS; i++) {
    if (stream_page[i] != page) continue;
    int64_t d = line - stream_last[i];
    if (d == 0) return 0;
    if (d == stream_stride[i]) {
      stream_last[i] = line;
      int covered = stream_confirmed[i];
      stream_confirmed[i] = 1;
      return covered;
    }
    if (retrain < 0 && d >= -MAX_STRIDE_LINES && d <= MAX_STRIDE_LINES) retrain = i;
  }
  if (retrain >= 0) {
    stream_stride[retrain] = (int32_t)(line - stream_last[retrain]);
    stream_confirmed[retrain] = 0;
    stream_last[retrain] = line;
    return 0;
  }
  int v = stream_victim;
  stream_victim = v + 1 == STREAMS ? 0 : v + 1;
  stream_last[v] = line;
  stream_page[v] = page;
  stream_stride[v] = 0;
  stream_confirmed[v] = 0;
  return 0;
}

static inline uint32_t memory_latency(int64_t line) {
  int64_t d = line - last_tier_line;
  last_tier_line = line;
  return d >= 0 && d <= 1 ? SEQ_CYCLES : RAND_CYCLES;
}

static inline uint32_t walk_ref(int64_t line, int guest_dimension) {
  c.walk_refs++;
  if (guest_dimension) c.walk_refs_guest++;
  else c.walk_refs_host++;
  last_line = -1;
  return memory_latency(line);
}

static uint32_t guest_fault(uint64_t gva) {
  c.guest_faults++;
  faulted = 1;
  pt_map(&guest, gva - (gva & 4095), next_data_gfn++);
  return 0;
}

static uint32_t ept_fault(uint64_t gpa) {
  c.ept_violations++;
  faulted = 1;
  uint64_t frame = host_next++;
  pt_map(&ept, gpa - (gpa & 4095), frame);
  return 0;
}

/* Guest-physical gpa_frame * 4096 + offset to host-physical (nested_hpa): nested TLB or EPT walk. */
static uint32_t nested_translate(uint64_t gpa_frame, uint64_t offset) {
  uint64_t gpa = gpa_frame * 4096 + offset;
  if (ntlb.valid > 0) {
    int way = tlb_lookup(&ntlb, gpa >> 12);
    if (way >= 0) {
      c.ntlb_hits++;
      nested_hpa = ntlb.value[way] * 4096 + (gpa & 4095);
      return 0;
    }
  }
  c.ntlb_misses++;
  uint32_t cycles = 0;
  uint32_t t = ept.root;
  int level = 4;
  for (int L = 2; L <= 4; L++) {
    if (hpsc[L].valid == 0) continue;
    int way = tlb_lookup(&hpsc[L], gpa >> (12 + 9 * (L - 1)));
    if (way >= 0) {
      c.psc_hits++;
      t = (uint32_t)hpsc[L].value[way];
      level = L - 1;
      break;
    }
  }
  for (; level >= 1; level--) {
    uint32_t index = (gpa >> (12 + 9 * (level - 1))) & 511;
    cycles += walk_ref((int64_t)(ept.frame[t] * 64 + (index >> 3)), 0);
    uint32_t e = ept.entry[(size_t)t * ENTRIES + index];
    if (!(e & 1)) return cycles + ept_fault(gpa);
    uint32_t payload = e >> 3;
    if (level == 1) {
      nested_hpa = (uint64_t)payload * 4096 + (gpa & 4095);
      tlb_insert(&ntlb, gpa >> 12, payload);
      return cycles;
    }
    tlb_insert(&hpsc[level], gpa >> (12 + 9 * (level - 1)), payload);
    t = payload;
  }
  return cycles;
}

static void set_fast(uint64_t page_frame) {
  fast_base = walk_gva - (walk_gva & 4095);
  fast_limit = fast_base + 4096;
  fast_host = page_frame * 4096;
  out_hpa = fast_host + (walk_gva & 4095);
}

static uint32_t walk_nested(void) {
  uint64_t gva = walk_gva;
  uint32_t cycles = 0;
  uint32_t t = guest.root;
  int level = 4;
  for (int L = 2; L <= 4; L++) {
    if (gpsc[L].valid == 0) continue;
    int way = tlb_lookup(&gpsc[L], gva >> (12 + 9 * (L - 1)));
    if (way >= 0) {
      c.psc_hits++;
      t = (uint32_t)gpsc[L].value[way];
      level = L - 1;
      break;
    }
  }
  if (level == 4) c.psc_misses++;
  for (; level >= 1; level--) {
    uint32_t index = (gva >> (12 + 9 * (level - 1))) & 511;
    cycles += nested_translate(guest.frame[t], index * 8);
    if (faulted) return cycles;
    cycles += walk_ref((int64_t)(nested_hpa >> 6), 1);
    uint32_t e = guest.entry[(size_t)t * ENTRIES + index];
    if (!(e & 1)) return cycles + guest_fault(gva);
    uint32_t payload = e >> 3;
    if (level == 1) {
      cycles += nested_translate(payload, gva & 4095);
      if (faulted) return cycles;
      out_hpa = nested_hpa;
      uint64_t frame = out_hpa >> 12;
      tlb_insert(&l2, gva >> 12, frame);
      tlb_insert(&l1, gva >> 12, frame);
      set_fast(frame);
      return cycles;
    }
    tlb_insert(&gpsc[level], gva >> (12 + 9 * (level - 1)), payload);
    t = payload;
  }
  return cycles;
}

static uint32_t walk(void) {
  c.walks++;
  uint32_t cycles = 0;
  uint64_t gva = walk_gva;
  for (int attempt = 0; attempt < MAX_FAULT_RETRIES; attempt++) {
    walk_gva = gva;
    faulted = 0;
    uint32_t r = walk_nested();
    cycles += r;
    if (!faulted) {
      c.walk_cycles += r;
      return cycles;
    }
  }
  fprintf(stderr, "ref: translation of 0x%llx still faults\n", (unsigned long long)gva);
  exit(1);
}

/* The most recent translation missed: L1, L2, then a walk. Sets out_hpa. */
static uint32_t translate_slow(void) {
  uint64_t gva = walk_gva;
  if (l1.valid > 0) {
    int way = tlb_lookup(&l1, gva >> 12);
    if (way >= 0) {
      c.l1_hits++;
      set_fast(l1.value[way]);
      return 0;
    }
  }
  c.l1_misses++;
  uint32_t cycles = L2_TLB_CYCLES;
  if (l2.valid > 0) {
    int way = tlb_lookup(&l2, gva >> 12);
    if (way >= 0) {
      c.l2_hits++;
      uint64_t frame = l2.value[way];
      tlb_insert(&l1, gva >> 12, frame);
      set_fast(frame);
      c.translation_cycles += cycles;
      return cycles;
    }
  }
  c.l2_misses++;
  cycles += walk();
  c.translation_cycles += cycles;
  return cycles;
}

/* One aligned 8-byte load. Returns its cycles. */
static inline uint32_t load(uint64_t gva) {
  c.accesses++;
  c.loads++;
  uint32_t cycles = 0;
  uint64_t hpa;
  if (gva >= fast_base && gva < fast_limit) {
    c.l1_hits++;
    hpa = fast_host + (gva - fast_base);
  } else {
    walk_gva = gva;
    cycles = translate_slow();
    hpa = out_hpa;
  }
  int64_t line = (int64_t)(hpa >> 6);
  uint32_t data;
  c.data_mem++;
  if (line == last_line) {
    data = repeat_cycles; /* the same line of the tier again: a sequential read */
  } else {
    last_line = line;
    if (prefetch_covers(line)) {
      last_tier_line = line;
      data = prefetched_cycles;
    } else {
      data = memory_latency(line);
    }
    repeat_cycles = SEQ_CYCLES;
  }
  c.data_cycles += data;
  return cycles + data;
}

/* ---- pure-rand's xoroshiro128+ (the generator of src/base/rng.ts), 32-bit halves ---- */
typedef struct {
  uint32_t s01, s00, s11, s10;
} rng_t;

static void rng_seed(rng_t *r, uint32_t seed) {
  r->s01 = 0xffffffffu;
  r->s00 = ~seed;
  r->s11 = seed;
  r->s10 = 0;
}

static uint32_t rng_next(rng_t *r) {
  uint32_t out = r->s00 + r->s10;
  uint32_t a0 = r->s10 ^ r->s00, a1 = r->s11 ^ r->s01;
  uint32_t s00 = r->s00, s01 = r->s01;
  r->s00 = (s00 << 24) ^ (s01 >> 8) ^ a0 ^ (a0 << 16);
  r->s01 = (s01 << 24) ^ (s00 >> 8) ^ a1 ^ ((a1 << 16) | (a0 >> 16));
  r->s10 = (a1 << 5) ^ (a0 >> 27);
  r->s11 = (a0 << 5) ^ (a1 >> 27);
  return out;
}

/* Rng.nextFloat() as its 53 bits: (hi27 * 2^26 + lo26). */
static uint64_t rng_next53(rng_t *r) {
  uint64_t hi = rng_next(r) >> 5;
  uint64_t lo = rng_next(r) >> 6;
  return (hi << 26) | lo;
}

static double clock_seconds(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_result(const char *mode, uint64_t n, double seconds, double cpu_seconds, const counters_t *a, const counters_t *b) {
#define D(f) (unsigned long long)(b->f - a->f)
  printf("{\"mode\":\"%s\",\"accesses\":%llu,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"counters\":{"
         "\"accesses\":%llu,\"l1TlbHits\":%llu,\"l1TlbMisses\":%llu,\"l2TlbHits\":%llu,\"l2TlbMisses\":%llu,"
         "\"walks\":%llu,\"walkRefs\":%llu,\"walkRefsGuest\":%llu,\"walkRefsHost\":%llu,\"pscHits\":%llu,"
         "\"pscMisses\":%llu,\"ntlbHits\":%llu,\"ntlbMisses\":%llu,\"guestFaults\":%llu,\"eptViolations\":%llu,"
         "\"dataMem\":%llu,\"translationCycles\":%llu,\"walkCycles\":%llu,\"dataCycles\":%llu}}\n",
         mode, (unsigned long long)n, seconds, cpu_seconds, D(accesses), D(l1_hits), D(l1_misses), D(l2_hits), D(l2_misses),
         D(walks), D(walk_refs), D(walk_refs_guest), D(walk_refs_host), D(psc_hits), D(psc_misses), D(ntlb_hits),
         D(ntlb_misses), D(guest_faults), D(ept_violations), D(data_mem), D(translation_cycles), D(walk_cycles),
         D(data_cycles));
#undef D
}

int main(int argc, char **argv) {
  const int span_bits = argc >= 4 ? atoi(argv[3]) : 32;
  const uint64_t n = argc >= 3 ? strtoull(argv[2], NULL, 10) : 0;
  const uint64_t drawn = argc == 5 ? strtoull(argv[4], NULL, 10) : n;
  if (argc < 3 || argc > 5 || (strcmp(argv[1], "seq") && strcmp(argv[1], "rand")) || span_bits < 16 || span_bits > 40 || drawn < n) {
    fprintf(stderr, "usage: ref seq|rand ACCESSES [SPAN_BITS 16..40 [DRAWN >= ACCESSES]]\n");
    return 2;
  }
  const uint64_t base = 0x400000000000ull; /* FlatSpace's default guest-virtual base */
  prefetch_init();
  tlb_init(&l1, 64, 64);
  tlb_init(&l2, 2048, 16);
  tlb_init(&ntlb, 32, 4);
  tlb_init(&gpsc[2], 32, 8);
  tlb_init(&gpsc[3], 8, 4);
  tlb_init(&gpsc[4], 4, 4);
  tlb_init(&hpsc[2], 32, 8);
  tlb_init(&hpsc[3], 8, 4);
  tlb_init(&hpsc[4], 4, 4);
  /* FlatSpace creates the guest table's root, then the EPT's. */
  pt_init(&guest, &guest_table_next);
  pt_init(&ept, &host_next);
  volatile uint64_t sink = 0;
  counters_t before;
  double t0, t1, c0, c1;
  if (!strcmp(argv[1], "seq")) {
    const uint64_t span = 64ull << 20;
    for (uint64_t off = 0; off < span; off += 4096) sink += load(base + off); /* map first */
    before = c;
    c0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    t0 = clock_seconds(CLOCK_MONOTONIC);
    uint64_t addr = 0, total = 0;
    for (uint64_t i = 0; i < n; i++) {
      total += load(base + addr);
      addr += 8;
      if (addr >= span) addr = 0;
    }
    t1 = clock_seconds(CLOCK_MONOTONIC);
    c1 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    sink += total;
  } else {
    const uint64_t span = 1ull << span_bits;
    for (uint64_t off = 0; off < span; off += 4096) sink += load(base + off); /* map every page first */
    rng_t r;
    rng_seed(&r, 42);
    uint64_t *addrs = malloc(sizeof(uint64_t) * drawn);
    if (!addrs) {
      fprintf(stderr, "ref: out of memory for %llu addresses\n", (unsigned long long)drawn);
      return 1;
    }
    /* floor(nextFloat() * span / 8) * 8: the top span_bits - 3 of the 53 bits. */
    for (uint64_t i = 0; i < drawn; i++) addrs[i] = base + (rng_next53(&r) >> (56 - span_bits)) * 8;
    before = c;
    c0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    t0 = clock_seconds(CLOCK_MONOTONIC);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += load(addrs[i]);
    t1 = clock_seconds(CLOCK_MONOTONIC);
    c1 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    sink += total;
    free(addrs);
  }
  (void)sink;
  print_result(argv[1], n, t1 - t0, c1 - c0, &before, &c);
  return 0;
}
