/*
 * What an application sees of our platform libraries (the rest comes from the real libraries'
 * own headers: musl, lwIP, zlib, SQLite, Lua, mbed TLS). Every application defines app_main, which
 * names the application and returns its result; ukboot prints both, so each image prints one
 * deterministic line. ukboot reaches the application only through app_main, which the linker
 * scripts place first in the application's code: in aligned images the boot library then calls
 * the same address in every image and stays byte-identical.
 */
#ifndef UKAPP_H
#define UKAPP_H
unsigned long app_main(const char **name);

/* ukalloc: a region allocator in .bss */
void *uk_malloc(unsigned long size);
unsigned long uk_alloc_used(void);

/* uksched: cooperative run-to-completion tasks */
typedef unsigned long (*uk_task_fn)(unsigned long arg);
int uk_sched_spawn(uk_task_fn fn, unsigned long arg);
unsigned long uk_sched_run(void);

/* vfscore: a flat in-memory file system */
int vfs_write(const char *name, const void *buf, unsigned long len);
long vfs_read(const char *name, void *buf, unsigned long len);

/* FNV-1a over bytes: how the applications fold what they computed into their result. */
static inline unsigned long app_digest(unsigned long h, const void *p, unsigned long n)
{
	const unsigned char *b = p;
	if (!h)
		h = 0xcbf29ce484222325ul;
	while (n--)
		h = (h ^ *b++) * 0x100000001b3ul;
	return h;
}
#endif
