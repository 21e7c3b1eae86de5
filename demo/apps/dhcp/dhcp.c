/* dhcp: a DHCP server answering DISCOVER with OFFER over lwIP, addresses formatted by lwIP. */
#include <stdio.h>
#include <string.h>
#include "lwip/ip4_addr.h"
#include "lwip/def.h"
#include "ukapp.h"
#include "uknet.h"
const char app_name[] = "dhcp";
static unsigned next_host = 100;

static unsigned long offer(const char *req, unsigned long len, char *rep, unsigned long cap)
{
	ip4_addr_t a;
	unsigned long n = len < 240 ? len : 240;
	memcpy(rep, req, n);
	rep[0] = 2; /* BOOTREPLY */
	IP4_ADDR(&a, 10, 0, 0, next_host++);
	memcpy(rep + 16, &a.addr, 4); /* yiaddr */
	n = 240;
	n += (unsigned long)snprintf(rep + n, cap - n, "offer %s", ip4addr_ntoa(&a));
	return n;
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	char disc[244];
	unsigned long h = 0;
	for (int i = 0; i < 8; i++) {
		u32_t xid = lwip_htonl(0x1000u + (u32_t)i);
		memset(disc, 0, sizeof(disc));
		disc[0] = 1, disc[1] = 1, disc[2] = 6;
		memcpy(disc + 4, &xid, 4);
		disc[28] = (char)i; /* chaddr */
		memcpy(disc + 236, "\x63\x82\x53\x63", 4);
		h = app_digest(h, uknet_reply, uknet_roundtrip(67, offer, disc, sizeof(disc)));
	}
	return h;
}
