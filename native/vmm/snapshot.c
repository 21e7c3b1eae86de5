/*
 * Guest memory snapshots for the page-by-page comparison with the simulator (docs/realhost.md,
 * "Where the pages come from"). `--snapshot PREFIX` writes PREFIX.load (the image as loaded, before
 * the VMM's boot structures), PREFIX.boot (when the guest first asks for an invocation: its boot
 * and the application's one run are done) and PREFIX.end (when the guest ends). Each file:
 *
 *   unimem-vmm snapshot moment=<load|boot|end> pages=<guest pages> present=<lines that follow>
 *   <guest page number, hex> <kind> <XXH64 of the page's 4096 bytes, 16 hex digits>
 *
 * one line per present page, in address order. Presence and kind come from /proc/self/pagemap, so
 * reading a page for its hash never faults in one that was not there: `a` a private page of this
 * VM (written or zero-filled; also a KSM page), `f` a page of a pool file mapped and never written
 * (page cache shared by all VMs), `r` the kernel's shared zero page (the guest read the page but
 * never wrote it: it costs no memory). Telling `r` needs the zero page's frame number, which
 * pagemap shows only to CAP_SYS_ADMIN; without it such pages are listed as `a`.
 * The hash is XXH64 (seed 0), the function the simulator fingerprints image pages with, so a page
 * can be compared with the simulator's page at the same address.
 */
#define _GNU_SOURCE
#include "snapshot.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ul
#define PM_PRESENT (1ull << 63)
#define PM_FILE (1ull << 61)
#define PM_PFN_MASK ((1ull << 55) - 1)

static const char *snapshot_prefix;

static const uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full, P3 = 0x165667B19E3779F9ull, P4 = 0x85EBCA77C2B2AE63ull,
		      P5 = 0x27D4EB2F165667C5ull;

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t read64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t read32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t round64(uint64_t acc, uint64_t input) { return rotl(acc + input * P2, 31) * P1; }
static uint64_t merge64(uint64_t h, uint64_t v) { return (h ^ round64(0, v)) * P1 + P4; }

/* XXH64 (Collet's specification, xxhash.h), little-endian reads. */
uint64_t xxh64(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	uint64_t h;
	if (len >= 32) {
		uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = 0 - P1;
		for (; p + 32 <= end; p += 32) {
			v1 = round64(v1, read64(p));
			v2 = round64(v2, read64(p + 8));
			v3 = round64(v3, read64(p + 16));
			v4 = round64(v4, read64(p + 24));
		}
		h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
		h = merge64(merge64(merge64(merge64(h, v1), v2), v3), v4);
	} else h = P5;
	h += len;
	for (; p + 8 <= end; p += 8) h = rotl(h ^ round64(0, read64(p)), 27) * P1 + P4;
	if (p + 4 <= end) h = rotl(h ^ (read32(p) * P1), 23) * P2 + P3, p += 4;
	for (; p < end; p++) h = rotl(h ^ (*p * P5), 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ (h >> 32);
}

void snapshot_init(const char *prefix) { snapshot_prefix = prefix; }

/* The frame number of the kernel's zero page (0 when pagemap hides frame numbers). */
static uint64_t zero_pfn(int pagemap)
{
	static uint64_t pfn = UINT64_MAX;
	if (pfn != UINT64_MAX) return pfn;
	volatile uint8_t *probe = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t e = 0;
	if (probe != MAP_FAILED) {
		(void)probe[0]; /* a read maps the zero page */
		if (pread(pagemap, &e, 8, (off_t)((uintptr_t)probe / PAGE * 8)) != 8) e = 0;
		munmap((void *)probe, PAGE);
	}
	return pfn = (e & PM_PRESENT) ? e & PM_PFN_MASK : 0;
}

/* Page-map entries read at a time, and the file's buffer: static, so that a snapshot adds two
 * pages to the VMM's own memory rather than a heap sized by the guest (the sampler counts it). */
#define CHUNK 512
static uint64_t map[CHUNK];
static char iobuf[4096];
static char path[4096], tmp[4200];

static int read_map(int pagemap, const uint8_t *mem, size_t first, size_t n)
{
	return pread(pagemap, map, n * 8, (off_t)(((uintptr_t)mem / PAGE + first) * 8)) == (ssize_t)(n * 8) ? 0 : -1;
}

/* A snapshot that cannot be written is reported and skipped: the VM itself goes on. */
void snapshot_write(const uint8_t *mem, size_t size, const char *moment)
{
	if (!snapshot_prefix) return;
	size_t pages = size / PAGE, present = 0;
	snprintf(path, sizeof path, "%s.%s", snapshot_prefix, moment);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	FILE *f = pm < 0 ? NULL : fopen(tmp, "w");
	int ok = f != NULL;
	if (ok) setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
	/* The header counts the present pages first: one pass over the page map, then the lines. */
	for (size_t i = 0; ok && i < pages; i += CHUNK) {
		size_t n = pages - i < CHUNK ? pages - i : CHUNK;
		if ((ok = read_map(pm, mem, i, n) == 0))
			for (size_t k = 0; k < n; k++) present += (map[k] & PM_PRESENT) != 0;
	}
	uint64_t zero = ok ? zero_pfn(pm) : 0;
	if (ok) fprintf(f, "unimem-vmm snapshot moment=%s pages=%zu present=%zu\n", moment, pages, present);
	for (size_t i = 0; ok && i < pages; i += CHUNK) {
		size_t n = pages - i < CHUNK ? pages - i : CHUNK;
		if (!(ok = read_map(pm, mem, i, n) == 0)) break;
		for (size_t k = 0; k < n; k++) {
			if (!(map[k] & PM_PRESENT)) continue;
			char kind = (map[k] & PM_FILE) ? 'f' : zero && (map[k] & PM_PFN_MASK) == zero ? 'r' : 'a';
			fprintf(f, "%zx %c %016llx\n", i + k, kind, (unsigned long long)xxh64(mem + (i + k) * PAGE, PAGE));
		}
	}
	if (!ok || fflush(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "unimem-vmm: snapshot %s: %s\n", path, strerror(errno ? errno : EIO));
		if (f) unlink(tmp);
	}
	if (f) fclose(f);
	if (pm >= 0) close(pm);
}
