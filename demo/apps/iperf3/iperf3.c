/* iperf3: pushes datagrams through lwIP's loopback and counts bytes per cooperative task. */
#include <string.h>
#include "lwip/inet_chksum.h"
#include "ukapp.h"
#include "uknet.h"
const char app_name[] = "iperf3";
static unsigned long received;

static unsigned long sink(const char *req, unsigned long len, char *rep, unsigned long cap)
{
	(void)cap;
	received += len;
	rep[0] = (char)(inet_chksum(req, (u16_t)len) & 0xff);
	return 1;
}

static unsigned long stream(unsigned long id)
{
	static char block[1400];
	unsigned long h = 0;
	for (int i = 0; i < 40; i++) {
		memset(block, (int)(id * 31 + (unsigned long)i), sizeof(block));
		h = app_digest(h, uknet_reply, uknet_roundtrip((u16_t)(5201 + id), sink, block, sizeof(block)));
	}
	return h;
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	for (unsigned long s = 0; s < 4; s++)
		uk_sched_spawn(stream, s);
	return uk_sched_run() ^ received;
}
