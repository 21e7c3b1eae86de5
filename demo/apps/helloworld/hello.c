/* The helloworld application: prints a greeting through nolibc and the platform library. */
#include "uk.h"

u64 app_extra(u64 seed)
{
	uk_puts("Hello world!\n");
	return seed ^ strlen("Hello world!\n");
}
