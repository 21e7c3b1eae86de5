/* nginx-like HTTP server: serves files from the vfs over lwIP, ETag by SHA-256, deflate by zlib. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include "mbedtls/bignum.h"
#include "mbedtls/sha256.h"
#include "ukapp.h"
#include "uknet.h"
const char app_name[] = "nginx";
static const char page[] = "<html><body><h1>Welcome to nginx on a unikernel!</h1>"
	"<p>If you see this page, the web server is working.</p></body></html>\n";

static unsigned long http(const char *req, unsigned long len, char *rep, unsigned long cap)
{
	char path[64] = "/index.html", body[512];
	unsigned char sha[32], gz[512];
	uLongf gzlen = sizeof(gz);
	long n;
	(void)len;
	if (sscanf(req, "GET %63s HTTP/1.1", path) != 1 || strcmp(path, "/") == 0)
		strcpy(path, "/index.html");
	n = vfs_read(path, body, sizeof(body) - 1);
	if (n < 0)
		return (unsigned long)snprintf(rep, cap, "HTTP/1.1 404 Not Found\r\n\r\n");
	body[n] = 0;
	mbedtls_sha256_ret((unsigned char *)body, (size_t)n, sha, 0);
	compress2(gz, &gzlen, (unsigned char *)body, (uLong)n, 6);
	return (unsigned long)snprintf(rep, cap, "HTTP/1.1 200 OK\r\nETag: \"%02x%02x%02x%02x\"\r\nContent-Length: %ld\r\nX-Deflated: %lu\r\n\r\n%s",
		sha[0], sha[1], sha[2], sha[3], n, (unsigned long)gzlen, body);
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	unsigned long h = 0;
	mbedtls_mpi a, e, n, r;
	unsigned char ticket[32];
	vfs_write("/index.html", page, sizeof(page) - 1);
	/* A session-ticket key by modular exponentiation (mbed TLS bignum; its division uses libgcc). */
	mbedtls_mpi_init(&a), mbedtls_mpi_init(&e), mbedtls_mpi_init(&n), mbedtls_mpi_init(&r);
	mbedtls_mpi_read_string(&a, 16, "1f2e3d4c5b6a79881726354453627180");
	mbedtls_mpi_read_string(&e, 16, "10001");
	mbedtls_mpi_read_string(&n, 16, "c4f3b2a1908f7e6d5c4b3a2918f7e6d5c4b3a29180706f5e4d3c2b1a09f8e7d7");
	mbedtls_mpi_exp_mod(&r, &a, &e, &n, 0);
	mbedtls_mpi_write_binary(&r, ticket, sizeof(ticket));
	h = app_digest(h, ticket, sizeof(ticket));
	mbedtls_mpi_free(&a), mbedtls_mpi_free(&e), mbedtls_mpi_free(&n), mbedtls_mpi_free(&r);
	for (int i = 0; i < 4; i++) {
		const char *req = i & 1 ? "GET /missing HTTP/1.1\r\nHost: uk\r\n\r\n" : "GET / HTTP/1.1\r\nHost: uk\r\n\r\n";
		unsigned long n = uknet_roundtrip(80, http, req, strlen(req));
		h = app_digest(h, uknet_reply, n);
	}
	return h;
}
