/* weborf: a minimal static web server listing the vfs directory over lwIP. */
#include <stdio.h>
#include <string.h>
#include "ukapp.h"
#include "uknet.h"
const char app_name[] = "weborf";
static const char *files[] = { "/a.txt", "/b.txt", "/c.txt" };

static unsigned long serve(const char *req, unsigned long len, char *rep, unsigned long cap)
{
	unsigned long n = (unsigned long)snprintf(rep, cap, "HTTP/1.0 200 OK\r\n\r\n<ul>");
	char buf[64];
	(void)req, (void)len;
	for (unsigned i = 0; i < 3; i++) {
		long k = vfs_read(files[i], buf, sizeof(buf) - 1);
		buf[k < 0 ? 0 : k] = 0;
		n += (unsigned long)snprintf(rep + n, cap - n, "<li>%s (%ld): %s</li>", files[i], k, buf);
	}
	return n + (unsigned long)snprintf(rep + n, cap - n, "</ul>\n");
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	vfs_write(files[0], "alpha", 5);
	vfs_write(files[1], "beta beta", 9);
	vfs_write(files[2], "gamma gamma gamma", 17);
	return app_digest(0, uknet_reply, uknet_roundtrip(8000, serve, "GET / HTTP/1.0\r\n\r\n", 18));
}
