/* helloworld-perf: formats many greetings with snprintf and digests them. */
#include <stdio.h>
#include "ukapp.h"
const char app_name[] = "helloworld-perf";
unsigned long app_main(const char **name)
{
	*name = app_name;
	char buf[64];
	unsigned long h = 0;
	for (int i = 0; i < 20000; i++)
		h = app_digest(h, buf, (unsigned long)snprintf(buf, sizeof(buf), "Hello world %d!\n", i));
	return h;
}
