/*
 * Boot library, modelled on Unikraft's ukboot: run every library initialiser registered in
 * .uk_inittab (in link order), call the application, print its deterministic result, halt.
 */
#include "uk.h"

extern uk_init_fn __uk_inittab_start[];
extern uk_init_fn __uk_inittab_end[];

static u64 ukboot_inits_run;

void ukboot_entry(void)
{
	char line[128];
	char *p = line;
	uk_init_fn *fn;
	u64 result;
	const char *s;

	for (fn = __uk_inittab_start; fn < __uk_inittab_end; fn++) {
		(*fn)();
		ukboot_inits_run++;
	}
	result = app_main();
	for (s = app_name; *s; s++)
		*p++ = *s;
	memcpy(p, ": result 0x", 11);
	p = uk_fmt_hex(p + 11, result);
	memcpy(p, " inits ", 7);
	p = uk_fmt_hex(p + 7, ukboot_inits_run);
	*p++ = '\n';
	ukplat_write(line, (u64)(p - line));
	ukplat_halt(0);
}
