/*
 * Scheduler library, modelled on Unikraft's uksched with the cooperative policy: tasks run to
 * completion in spawn order; each task's result is folded into the scheduler's digest.
 */
#include "uk.h"

#define UKSCHED_MAX_TASKS 32

struct uk_task {
	uk_task_fn fn;
	u64 arg;
};

static struct uk_task uksched_queue[UKSCHED_MAX_TASKS];
static int uksched_count;

static void uksched_init(void)
{
	uksched_count = 0;
}
UK_INIT(uksched_init);

int uk_sched_spawn(uk_task_fn fn, u64 arg)
{
	if (uksched_count == UKSCHED_MAX_TASKS)
		return -1;
	uksched_queue[uksched_count].fn = fn;
	uksched_queue[uksched_count].arg = arg;
	return uksched_count++;
}

u64 uk_sched_run(void)
{
	u64 digest = 0x5bd1e995;
	int i;
	for (i = 0; i < uksched_count; i++)
		digest = (digest ^ uksched_queue[i].fn(uksched_queue[i].arg)) * 0x100000001b3ul;
	uksched_count = 0;
	return digest;
}
