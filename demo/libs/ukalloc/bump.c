/*
 * Allocator library, modelled on Unikraft's ukalloc with a region (bump) back-end: a static heap
 * in .bss, 16-byte granules, free is a no-op (as ukallocregion).
 */
#include "uk.h"

#define UKALLOC_HEAP_BYTES (256 * 1024)

static u8 ukalloc_heap[UKALLOC_HEAP_BYTES] __attribute__((aligned(16)));
static u64 ukalloc_top;

static void ukalloc_init(void)
{
	ukalloc_top = 0;
}
UK_INIT(ukalloc_init);

void *uk_malloc(u64 size)
{
	u64 need = (size + 15) & ~15ul;
	void *p;
	if (need > UKALLOC_HEAP_BYTES - ukalloc_top)
		return 0;
	p = ukalloc_heap + ukalloc_top;
	ukalloc_top += need;
	return p;
}

void uk_free(void *p)
{
	(void)p;
}

u64 uk_alloc_used(void)
{
	return ukalloc_top;
}
