/*
 * The simulating host's speed on the day, beside the access-path benchmark (bench/cref.ts): the
 * rates there have moved by half between days on the same kind of machine, and the ratios to the
 * C reference moved too between its Intel and AMD hosts (docs/machine.md, issue 16's tenth round).
 * Two readings, recorded with every round, tell whether the core's clock or the memory's latency
 * differs:
 *
 *   clockGHz  dependent integer additions per nanosecond: one addition per cycle on every x86-64
 *             core since the P6, so the core's clock while it runs (turbo included)
 *   chaseNs   nanoseconds per load of a pointer chase over a random cycle of 64-byte lines in
 *             256 MiB of 4 KiB pages (malloc, no huge-page advice): the host's latency for a
 *             load that misses its caches and its TLBs, as the C program's walk loads do
 *
 * Usage: probe. Prints one JSON line.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ADDITIONS 1000000000ull
#define CHASE_BYTES (256ull << 20)
#define LINE_WORDS 8 /* 64-byte lines of 8-byte words */
#define CHASE_LOADS 20000000ull

/* Where each reading's last value goes, so that the compiler keeps its loop. */
static volatile uint64_t sink;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* An empty statement the compiler must assume reads and writes x: the additions stay one by one. */
#define ADD_ONE(x) \
  do { \
    x += 1; \
    __asm__ volatile("" : "+r"(x)); \
  } while (0)

static double clock_ghz(void) {
  uint64_t x = 0;
  const double t0 = now();
  /* Eight dependent additions per iteration, so that the loop's branch is not what limits it. */
  for (uint64_t i = 0; i < ADDITIONS / 8; i++) {
    ADD_ONE(x);
    ADD_ONE(x);
    ADD_ONE(x);
    ADD_ONE(x);
    ADD_ONE(x);
    ADD_ONE(x);
    ADD_ONE(x);
    ADD_ONE(x);
  }
  const double s = now() - t0;
  sink = x;
  return ADDITIONS / s / 1e9;
}

/* xorshift64: a fixed permutation every run. */
static uint64_t next_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

/* The chase's latency in ns, or 0 when its memory cannot be had. */
static double chase_ns(void) {
  const uint64_t lines = CHASE_BYTES / 64;
  uint64_t *mem = malloc(CHASE_BYTES);
  uint64_t *order = malloc(lines * sizeof(uint64_t));
  if (mem == NULL || order == NULL) {
    free(mem);
    free(order);
    return 0;
  }
  for (uint64_t i = 0; i < lines; i++) order[i] = i;
  uint64_t state = 88172645463325252ull;
  for (uint64_t i = lines - 1; i > 0; i--) {
    const uint64_t j = next_random(&state) % (i + 1);
    const uint64_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  /* One cycle through every line in the shuffled order. */
  for (uint64_t i = 0; i < lines; i++) mem[order[i] * LINE_WORDS] = order[(i + 1) % lines] * LINE_WORDS;
  free(order);
  uint64_t at = 0;
  for (uint64_t i = 0; i < lines; i++) at = mem[at]; /* touch every page once, warm the caches */
  const double t0 = now();
  for (uint64_t i = 0; i < CHASE_LOADS; i++) at = mem[at];
  const double s = now() - t0;
  sink = at;
  free(mem);
  return s / CHASE_LOADS * 1e9;
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc != 1) {
    fprintf(stderr, "usage: probe\n");
    return 2;
  }
  const double ghz = clock_ghz();
  const double ns = chase_ns();
  if (ns <= 0) {
    fprintf(stderr, "probe: out of memory for the 256 MiB chase\n");
    return 1;
  }
  printf("{\"clockGHz\":%.4f,\"chaseNs\":%.3f}\n", ghz, ns);
  return 0;
}
