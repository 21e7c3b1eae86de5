/*
 * unimem allocation shim: an LD_PRELOAD library that reports a program's allocation calls into
 * valgrind's output stream, so that `unimem trace capture` sees them in program order between
 * lackey's memory accesses (research/hostcheck.md §8: VALGRIND_PRINTF lines and lackey's lines
 * share one stream, in program order).
 *
 * Lines (each prefixed by valgrind with "**PID** "):
 *   UM+                       an outermost allocation call begins: the accesses that follow are
 *                             the C library's allocator (or the kernel interface) at work
 *   UM- c addr size arg       it returns: c is the call (below), numbers in hex
 *   UM= c addr size arg       a call made from inside another one (jemalloc's mmap inside malloc):
 *                             reported, no bracket
 *   UM! k number kind         a marker: kind 1 = a connection accepted, 2 = a reply sent on a TCP socket
 * Calls: m malloc, c calloc, r realloc (arg = old pointer), f free, p posix_memalign (arg =
 * alignment), a aligned_alloc / memalign / valloc / pvalloc (arg = alignment), M mmap / mmap64
 * (arg = prot | flags << 8), U munmap, b brk / sbrk (addr = the break afterwards, arg = the break
 * asked for, 0 for a query). A failed call reports address 0.
 *
 * Only the outermost call of a thread is reported (a realloc that an allocator implements with
 * malloc and free is one realloc), except that memory taken from the kernel inside an allocation
 * call (mmap, munmap, brk) is reported with "UM=". Natively (not under valgrind) VALGRIND_PRINTF
 * does nothing and the shim only forwards.
 *
 * Bootstrapping: the real functions are found with dlsym(RTLD_NEXT), and glibc's dlsym may itself
 * call calloc; while a lookup is in progress, allocations come from a small static arena (never
 * freed, never reported). Thread-local state uses the initial-exec TLS model, which needs no
 * allocation on first access.
 *
 * Built by scripts/install.sh: gcc -O2 -shared -fPIC -o unimem_shim.so unimem_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#define TLS __attribute__((tls_model("initial-exec"))) __thread

/* Nesting depth of intercepted allocation calls in this thread. */
static TLS int depth;
/* Set while dlsym runs in this thread: allocations then come from the boot arena. */
static TLS int resolving;

static char boot_arena[64 * 1024] __attribute__((aligned(64)));
static size_t boot_used;

static void *boot_alloc(size_t n) {
    size_t at = __atomic_fetch_add(&boot_used, (n + 63) & ~(size_t)63, __ATOMIC_RELAXED);
    if (at + n > sizeof boot_arena) return NULL;
    return boot_arena + at;
}

static int in_boot_arena(const void *p) {
    return (const char *)p >= boot_arena && (const char *)p < boot_arena + sizeof boot_arena;
}

static void *resolve(const char *name) {
    resolving++;
    void *f = dlsym(RTLD_NEXT, name);
    resolving--;
    return f;
}

#define REAL(ret, name, params)                                               \
    static ret(*real_##name) params;                                          \
    static inline ret(*get_##name(void)) params {                             \
        if (!real_##name) real_##name = (ret(*) params)resolve(#name);        \
        return real_##name;                                                   \
    }

REAL(void *, malloc, (size_t))
REAL(void *, calloc, (size_t, size_t))
REAL(void *, realloc, (void *, size_t))
REAL(void *, reallocarray, (void *, size_t, size_t))
REAL(void, free, (void *))
REAL(int, posix_memalign, (void **, size_t, size_t))
REAL(void *, aligned_alloc, (size_t, size_t))
REAL(void *, memalign, (size_t, size_t))
REAL(void *, valloc, (size_t))
REAL(void *, pvalloc, (size_t))
REAL(void *, mmap, (void *, size_t, int, int, int, off_t))
REAL(int, munmap, (void *, size_t))
REAL(int, brk, (void *))
REAL(void *, sbrk, (intptr_t))
REAL(int, accept, (int, struct sockaddr *, socklen_t *))
REAL(int, accept4, (int, struct sockaddr *, socklen_t *, int))
REAL(ssize_t, write, (int, const void *, size_t))
REAL(ssize_t, writev, (int, const struct iovec *, int))
REAL(ssize_t, send, (int, const void *, size_t, int))
REAL(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t))
REAL(ssize_t, sendmsg, (int, const struct msghdr *, int))

/* Begin an intercepted call; returns 1 if it is the outermost one of this thread. */
static inline int enter(void) {
    if (depth++ == 0) {
        VALGRIND_PRINTF("UM+\n");
        return 1;
    }
    return 0;
}

static inline void leave(int outer, char call, const void *addr, size_t size, unsigned long arg) {
    depth--;
    if (outer) VALGRIND_PRINTF("UM- %c %lx %lx %lx\n", call, (unsigned long)addr, (unsigned long)size, arg);
}

/* Kernel memory calls: reported inside an allocation call too, as "UM=". */
static inline void leave_kernel(int outer, char call, const void *addr, size_t size, unsigned long arg) {
    depth--;
    if (outer) VALGRIND_PRINTF("UM- %c %lx %lx %lx\n", call, (unsigned long)addr, (unsigned long)size, arg);
    else VALGRIND_PRINTF("UM= %c %lx %lx %lx\n", call, (unsigned long)addr, (unsigned long)size, arg);
}

void *malloc(size_t n) {
    if (resolving) return boot_alloc(n);
    int outer = enter();
    void *p = get_malloc()(n);
    leave(outer, 'm', p, n, 0);
    return p;
}

void *calloc(size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) total = SIZE_MAX;
    if (resolving) return boot_alloc(total); /* the arena is static, hence zeroed */
    int outer = enter();
    void *p = get_calloc()(nmemb, size);
    leave(outer, 'c', p, total, 0);
    return p;
}

void *realloc(void *old, size_t n) {
    if (resolving || in_boot_arena(old)) {
        void *p = boot_alloc(n);
        if (p && old) {
            size_t room = (size_t)(boot_arena + sizeof boot_arena - (char *)old);
            memcpy(p, old, n < room ? n : room);
        }
        return p;
    }
    int outer = enter();
    void *p = get_realloc()(old, n);
    leave(outer, 'r', p, n, (unsigned long)old);
    return p;
}

void *reallocarray(void *old, size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) total = SIZE_MAX;
    int outer = enter();
    void *p = get_reallocarray()(old, nmemb, size);
    leave(outer, 'r', p, total, (unsigned long)old);
    return p;
}

void free(void *p) {
    if (in_boot_arena(p)) return;
    int outer = enter();
    get_free()(p);
    leave(outer, 'f', p, 0, 0);
}

int posix_memalign(void **out, size_t align, size_t n) {
    int outer = enter();
    int r = get_posix_memalign()(out, align, n);
    leave(outer, 'p', r == 0 ? *out : NULL, n, align);
    return r;
}

void *aligned_alloc(size_t align, size_t n) {
    int outer = enter();
    void *p = get_aligned_alloc()(align, n);
    leave(outer, 'a', p, n, align);
    return p;
}

void *memalign(size_t align, size_t n) {
    int outer = enter();
    void *p = get_memalign()(align, n);
    leave(outer, 'a', p, n, align);
    return p;
}

void *valloc(size_t n) {
    int outer = enter();
    void *p = get_valloc()(n);
    leave(outer, 'a', p, n, (unsigned long)sysconf(_SC_PAGESIZE));
    return p;
}

void *pvalloc(size_t n) {
    int outer = enter();
    void *p = get_pvalloc()(n);
    leave(outer, 'a', p, n, (unsigned long)sysconf(_SC_PAGESIZE));
    return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    int outer = enter();
    void *p = get_mmap()(addr, len, prot, flags, fd, off);
    int saved = errno;
    leave_kernel(outer, 'M', p == MAP_FAILED ? NULL : p, len, (unsigned long)(prot & 0xff) | ((unsigned long)(unsigned)flags << 8));
    errno = saved;
    return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

int munmap(void *addr, size_t len) {
    int outer = enter();
    int r = get_munmap()(addr, len);
    int saved = errno;
    if (r == 0) leave_kernel(outer, 'U', addr, len, 0);
    else leave_kernel(outer, 'U', NULL, len, 0);
    errno = saved;
    return r;
}

int brk(void *want) {
    int outer = enter();
    int r = get_brk()(want);
    int saved = errno;
    void *now = get_sbrk()(0);
    leave_kernel(outer, 'b', now, 0, (unsigned long)want);
    errno = saved;
    return r;
}

void *sbrk(intptr_t increment) {
    int outer = enter();
    char *old = get_sbrk()(increment);
    int saved = errno;
    char *now = old == (char *)-1 ? get_sbrk()(0) : old + increment;
    leave_kernel(outer, 'b', now, 0, increment == 0 ? 0 : (unsigned long)(old + increment));
    errno = saved;
    return old;
}

/* ---- markers: request boundaries of a server ------------------------------------------- */

static unsigned long marker_count;

static void marker(int kind) {
    unsigned long n = __atomic_add_fetch(&marker_count, 1, __ATOMIC_RELAXED);
    VALGRIND_PRINTF("UM! k %lx 0 %x\n", n, kind);
}

/* A network socket: replies go there. Standard output may be a Unix socket too (Node's pipes are). */
static int is_network_socket(int fd) {
    int domain = 0;
    socklen_t len = sizeof domain;
    int saved = errno;
    int r = getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && (domain == AF_INET || domain == AF_INET6);
    errno = saved;
    return r;
}

int accept(int fd, struct sockaddr *a, socklen_t *l) {
    int r = get_accept()(fd, a, l);
    if (r >= 0) marker(1);
    return r;
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) {
    int r = get_accept4()(fd, a, l, flags);
    if (r >= 0) marker(1);
    return r;
}

ssize_t write(int fd, const void *b, size_t n) {
    ssize_t r = get_write()(fd, b, n);
    if (r > 0 && depth == 0 && is_network_socket(fd)) marker(2);
    return r;
}

ssize_t writev(int fd, const struct iovec *v, int n) {
    ssize_t r = get_writev()(fd, v, n);
    if (r > 0 && depth == 0 && is_network_socket(fd)) marker(2);
    return r;
}

ssize_t send(int fd, const void *b, size_t n, int flags) {
    ssize_t r = get_send()(fd, b, n, flags);
    if (r > 0 && depth == 0 && is_network_socket(fd)) marker(2);
    return r;
}

ssize_t sendto(int fd, const void *b, size_t n, int flags, const struct sockaddr *a, socklen_t l) {
    ssize_t r = get_sendto()(fd, b, n, flags, a, l);
    if (r > 0 && depth == 0 && is_network_socket(fd)) marker(2);
    return r;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
    ssize_t r = get_sendmsg()(fd, m, flags);
    if (r > 0 && depth == 0 && is_network_socket(fd)) marker(2);
    return r;
}
