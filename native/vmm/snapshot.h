/* Guest memory snapshots (--snapshot PREFIX): per present guest page its kind and XXH64. */
#ifndef UNIMEM_VMM_SNAPSHOT_H
#define UNIMEM_VMM_SNAPSHOT_H
#include <stddef.h>
#include <stdint.h>

/* Remember the prefix; without a call, snapshot_write does nothing. */
void snapshot_init(const char *prefix);
/* Write PREFIX.<moment>: call only while the vCPU is stopped (before entry, at an exit). */
void snapshot_write(const uint8_t *mem, size_t size, const char *moment);
/* XXH64 with seed 0 (the simulator's page fingerprints are XXH64 of the bytes, src/base/hash.ts). */
uint64_t xxh64(const uint8_t *p, size_t len);

#endif
