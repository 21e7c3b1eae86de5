/*
 * The scamper applications (scamper-uradargun, -utnt, -uspeedtrap): ICMP echo probes built and
 * checksummed by lwIP and answered over its loopback. The including file defines APP_NAME and
 * SCAMPER_PROBES.
 */
#include <string.h>
#include "lwip/def.h"
#include "lwip/inet_chksum.h"
#include "lwip/prot/icmp.h"
#include "ukapp.h"
#include "uknet.h"
const char app_name[] = APP_NAME;

static unsigned long reply(const char *req, unsigned long len, char *rep, unsigned long cap)
{
	struct icmp_echo_hdr *e = (struct icmp_echo_hdr *)rep;
	memcpy(rep, req, len < cap ? len : cap);
	e->type = ICMP_ER;
	e->chksum = 0;
	e->chksum = inet_chksum(rep, (u16_t)len);
	return len;
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	char pkt[64];
	unsigned long h = 0;
	for (int i = 0; i < SCAMPER_PROBES; i++) {
		struct icmp_echo_hdr *e = (struct icmp_echo_hdr *)pkt;
		memset(pkt, 0x5a ^ i, sizeof(pkt));
		e->type = ICMP_ECHO, e->code = 0, e->id = lwip_htons(0x5ca0), e->seqno = lwip_htons((u16_t)i);
		e->chksum = 0;
		e->chksum = inet_chksum(pkt, sizeof(pkt));
		h = app_digest(h, uknet_reply, uknet_roundtrip((u16_t)(33434 + i), reply, pkt, sizeof(pkt)));
	}
	return h;
}
