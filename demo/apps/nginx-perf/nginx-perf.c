/* nginx-perf: many small HTTP requests over lwIP's loopback, responses tagged with MD5. */
#include <stdio.h>
#include <string.h>
#include "mbedtls/md5.h"
#include "ukapp.h"
#include "uknet.h"
const char app_name[] = "nginx-perf";

static unsigned long http(const char *req, unsigned long len, char *rep, unsigned long cap)
{
	unsigned char md[16];
	mbedtls_md5_ret((const unsigned char *)req, len, md);
	return (unsigned long)snprintf(rep, cap, "HTTP/1.1 200 OK\r\nContent-MD5: %02x%02x%02x%02x\r\n\r\nok", md[0], md[1], md[2], md[3]);
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	char req[128];
	unsigned long h = 0;
	for (int i = 0; i < 300; i++) {
		int n = snprintf(req, sizeof(req), "GET /item/%d HTTP/1.1\r\nHost: uk\r\n\r\n", i);
		h = app_digest(h, uknet_reply, uknet_roundtrip(8080, http, req, (unsigned long)n));
	}
	return h;
}
