/*
 * Boot library, modelled on Unikraft's ukboot: start the C library (musl's __libc_start_main, with
 * a fixed argument, environment and auxiliary vector, so the image behaves the same as a Linux
 * process and under the micro-VMM), run every library initialiser registered in .uk_inittab (in
 * link order), call the application, print its deterministic result and exit through the C library
 * (which flushes stdio).
 */
#include "uk.h"

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void), void (*fini)(void), void (*ldso)(void));
int printf(const char *fmt, ...);

extern uk_init_fn __uk_inittab_start[];
extern uk_init_fn __uk_inittab_end[];

static u64 ukboot_inits_run;
static char ukboot_random[16] = "unikraft-ukboot";

/* argv, its end, the (empty) environment's end, then auxv: AT_PAGESZ, AT_RANDOM, AT_NULL. */
static char *ukboot_vector[] = {
	(char *)"unikernel", 0, 0, (char *)6, (char *)4096, (char *)25, ukboot_random, 0, 0,
};

static int ukboot_main(int argc, char **argv, char **envp)
{
	uk_init_fn *fn;
	const char *name = "app";
	u64 result;

	(void)argc, (void)argv, (void)envp;
	for (fn = __uk_inittab_start; fn < __uk_inittab_end; fn++) {
		(*fn)();
		ukboot_inits_run++;
	}
	result = app_main(&name);
	printf("%s: result 0x%016lx inits %lu\n", name, result, ukboot_inits_run);
	return 0;
}

void ukboot_entry(void)
{
	__libc_start_main(ukboot_main, 1, ukboot_vector, 0, 0, 0);
	ukplat_halt(1);
}
