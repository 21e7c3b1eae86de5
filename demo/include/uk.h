/*
 * Shared declarations of our thin platform libraries (modelled on Unikraft's: a platform library, a
 * boot library, an allocator, a scheduler, a vfs). Freestanding: no system headers; the C library
 * below them is musl. Applications include ukapp.h instead, beside the real libraries' headers.
 */
#ifndef UK_H
#define UK_H
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

/* ukplat: the linuxu-like platform talks to Linux through raw system calls. */
long ukplat_write(const char *buf, u64 len);
void ukplat_halt(int code) __attribute__((noreturn));

/* The C library (musl) */
void *memcpy(void *dst, const void *src, u64 n);
void *memset(void *dst, int c, u64 n);
int memcmp(const void *a, const void *b, u64 n);
u64 strlen(const char *s);

/* ukalloc */
void *uk_malloc(u64 size);
void uk_free(void *p);
u64 uk_alloc_used(void);

/* uksched: cooperative run-to-completion tasks */
typedef u64 (*uk_task_fn)(u64 arg);
int uk_sched_spawn(uk_task_fn fn, u64 arg);
u64 uk_sched_run(void);

/* vfscore: a flat in-memory file system */
int vfs_write(const char *name, const void *buf, u64 len);
long vfs_read(const char *name, void *buf, u64 len);

/* ukboot: libraries register their initialisers in .uk_inittab, as Unikraft's uk_inittab. */
typedef void (*uk_init_fn)(void);
#define UK_INIT(fn) \
  static uk_init_fn __uk_init_##fn __attribute__((used, section(".uk_inittab"))) = fn

/* Provided by the application library: names the application, returns its result. */
u64 app_main(const char **name);
#endif
