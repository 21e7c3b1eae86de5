/* helloworld: prints a greeting through musl's stdio. */
#include <stdio.h>
#include "ukapp.h"
const char app_name[] = "helloworld";
unsigned long app_main(const char **name)
{
	*name = app_name;
	return (unsigned long)printf("Hello world!\n");
}
