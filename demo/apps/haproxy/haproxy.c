/* haproxy: a round-robin proxy over lwIP that authenticates each backend reply with AES-GCM. */
#include <stdio.h>
#include <string.h>
#include "mbedtls/gcm.h"
#include "ukapp.h"
#include "uknet.h"
const char app_name[] = "haproxy";
static int backend;

static unsigned long backend_reply(const char *req, unsigned long len, char *rep, unsigned long cap)
{
	(void)len;
	return (unsigned long)snprintf(rep, cap, "backend%d: %s", backend, req);
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	static const unsigned char key[16] = "0123456789abcdef", iv[12] = "unikernel-iv";
	mbedtls_gcm_context gcm;
	unsigned char out[256], tag[16];
	unsigned long h = 0;
	mbedtls_gcm_init(&gcm);
	mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 128);
	for (int i = 0; i < 6; i++) {
		char req[64];
		int n = snprintf(req, sizeof(req), "GET /svc/%d", i);
		unsigned long m;
		backend = i % 3;
		m = uknet_roundtrip((u16_t)(9000 + backend), backend_reply, req, (unsigned long)n);
		mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, m, iv, sizeof(iv), 0, 0, (unsigned char *)uknet_reply, out, sizeof(tag), tag);
		h = app_digest(h, tag, sizeof(tag));
	}
	mbedtls_gcm_free(&gcm);
	return h;
}
