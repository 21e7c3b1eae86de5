/*
 * The two functions lwIP needs from a NO_SYS port. Time is a counter advanced by every call, so
 * timers and TCP sequence numbers are the same in every run (the images print deterministic results).
 */
#include "lwip/sys.h"

static u32_t lwip_port_clock;
static u32_t lwip_port_seed = 0x2545f491u;

u32_t sys_now(void)
{
	return ++lwip_port_clock;
}

unsigned int lwip_port_rand(void)
{
	lwip_port_seed = lwip_port_seed * 1103515245u + 12345u;
	return lwip_port_seed >> 1;
}
