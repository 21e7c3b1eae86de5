/*
 * Request/response over lwIP's loopback interface (NO_SYS, raw UDP API): the application's server
 * callback gets the request through the whole stack (pbufs, UDP, IPv4, the loopback netif) and its
 * reply goes back the same way. Used by the network applications; each links lwIP for real.
 */
#ifndef UKNET_H
#define UKNET_H
#include <string.h>
#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

typedef unsigned long (*uknet_handler)(const char *req, unsigned long len, char *reply, unsigned long cap);

static uknet_handler uknet_serve;
static char uknet_reply[4096];
static unsigned long uknet_reply_len;

static void uknet_server_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
	static char req[4096], rep[4096];
	unsigned long n = pbuf_copy_partial(p, req, sizeof(req) - 1, 0), m;
	struct pbuf *q;
	(void)arg;
	req[n] = 0;
	pbuf_free(p);
	m = uknet_serve(req, n, rep, sizeof(rep));
	q = pbuf_alloc(PBUF_TRANSPORT, (u16_t)m, PBUF_RAM);
	pbuf_take(q, rep, (u16_t)m);
	udp_sendto(pcb, q, addr, port);
	pbuf_free(q);
}

static void uknet_client_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
	(void)arg, (void)pcb, (void)addr, (void)port;
	uknet_reply_len = pbuf_copy_partial(p, uknet_reply, sizeof(uknet_reply), 0);
	pbuf_free(p);
}

/* Send req to a server on 127.0.0.1:port served by h; returns the reply's length (in uknet_reply). */
static unsigned long uknet_roundtrip(u16_t port, uknet_handler h, const char *req, unsigned long len)
{
	static int up;
	struct udp_pcb *server, *client;
	struct pbuf *p;
	ip_addr_t lo;
	if (!up) {
		lwip_init();
		up = 1;
	}
	IP_ADDR4(&lo, 127, 0, 0, 1);
	uknet_serve = h;
	uknet_reply_len = 0;
	server = udp_new();
	client = udp_new();
	udp_bind(server, &lo, port);
	udp_recv(server, uknet_server_recv, 0);
	udp_bind(client, &lo, 0);
	udp_recv(client, uknet_client_recv, 0);
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	pbuf_take(p, req, (u16_t)len);
	udp_sendto(client, p, &lo, port);
	pbuf_free(p);
	while (!uknet_reply_len)
		netif_poll_all();
	udp_remove(server);
	udp_remove(client);
	return uknet_reply_len;
}
#endif
