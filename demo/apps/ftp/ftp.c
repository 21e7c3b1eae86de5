/* ftp: an FTP-like control channel over lwIP storing and retrieving files in the vfs. */
#include <stdio.h>
#include <string.h>
#include "ukapp.h"
#include "uknet.h"
const char app_name[] = "ftp";

static unsigned long control(const char *req, unsigned long len, char *rep, unsigned long cap)
{
	char cmd[8], arg[64], data[256];
	long n;
	(void)len;
	if (sscanf(req, "%7s %63s", cmd, arg) != 2)
		return (unsigned long)snprintf(rep, cap, "500 syntax error\r\n");
	if (!strcmp(cmd, "STOR")) {
		const char *body = strchr(req, '\n');
		body = body ? body + 1 : "";
		vfs_write(arg, body, strlen(body));
		return (unsigned long)snprintf(rep, cap, "226 stored %lu bytes\r\n", (unsigned long)strlen(body));
	}
	n = vfs_read(arg, data, sizeof(data) - 1);
	if (n < 0)
		return (unsigned long)snprintf(rep, cap, "550 %s: no such file\r\n", arg);
	data[n] = 0;
	return (unsigned long)snprintf(rep, cap, "150 %ld bytes\r\n%s", n, data);
}

unsigned long app_main(const char **name)
{
	*name = app_name;
	static const char *cmds[] = { "STOR /pub/readme\nunikernels ftp demo\n", "RETR /pub/readme", "RETR /pub/none", "STOR /pub/b\nsecond file\n", "RETR /pub/b" };
	unsigned long h = 0;
	for (unsigned i = 0; i < 5; i++)
		h = app_digest(h, uknet_reply, uknet_roundtrip(21, control, cmds[i], strlen(cmds[i])));
	return h;
}
