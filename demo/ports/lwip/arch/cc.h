/* lwIP's compiler and platform glue for musl: standard headers, diagnostics through stdio. */
#ifndef LWIP_ARCH_CC_H
#define LWIP_ARCH_CC_H
#include <stdio.h>
#include <stdlib.h>
#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) do { printf("lwip assertion: %s\n", x); abort(); } while (0)
#define LWIP_NO_CTYPE_H 0
#endif
