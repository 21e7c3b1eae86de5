/* helloworld: prints a greeting through musl's stdio. */
#include <stdio.h>
#include "ukapp.h"
const char app_name[] = "helloworld";
unsigned long app_main(void)
{
	return (unsigned long)printf("Hello world!\n");
}
