/*
 * unimem-vmm: a micro-VMM that boots one unikernel image per process on KVM, the way Firecracker
 * boots an ELF kernel (research/dedup.md §6): one memory slot, one vCPU, 64-bit long mode with
 * identity page tables, a GDT and the boot parameters at Firecracker's addresses, the entry point
 * in %rip. Two loaders:
 *
 *   --elf FILE               standard loader: each PT_LOAD's file bytes are read into anonymous
 *                            guest memory at p_paddr (Firecracker's linux-loader).
 *   --description FILE       pool loader (Spacer-SLT's load-time path, dedup.md §1.5): every shared
 *                            entry of the description (`unimem image pool`) is mapped from the pool
 *                            directory (a tmpfs such as /dev/shm) MAP_PRIVATE at its guest-physical
 *                            address, so all VMs share its page-cache pages until one writes; only
 *                            the private sections are copied.
 *
 * The guest's serial console (port 0x3f8) goes to standard output. The guest ends with HLT or by
 * writing its exit status to port 0x501 (as QEMU's isa-debug-exit port, without its encoding).
 * FaaS invocations (--invocations FILE): a 32-bit read of port 0x503 returns when the next arrival
 * of the schedule has come, with its working-set bytes (0: no more), so the guest, which has no
 * timer, runs the same Poisson arrivals as the simulated host.
 * Memory snapshots (--snapshot PREFIX, snapshot.c): per present guest page its kind and XXH64, at
 * load, at the guest's first invocation request (boot done) and at its end.
 * Exit status: the guest's, 125 for a VMM error, 126 when the guest crashed (triple fault, access
 * outside its memory). See docs/realhost.md.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "json.h"
#include "snapshot.h"

#define EXIT_VMM_ERROR 125
#define EXIT_GUEST_CRASH 126

/* Firecracker's x86_64 boot layout (arch/src/x86_64: layout.rs, gdt.rs, regs.rs). */
#define GDT_ADDR 0x500
#define IDT_ADDR 0x520
#define ZERO_PAGE_ADDR 0x7000
#define BOOT_STACK_POINTER 0x8ff0
#define PML4_ADDR 0x9000
#define PDPTE_ADDR 0xa000
#define PDE_ADDR 0xb000
#define CMDLINE_ADDR 0x20000
#define CMDLINE_MAX 0x10000
#define HIMEM_START 0x100000
#define EBDA_START 0x9fc00
#define PAGE 4096ul

#define SERIAL_PORT 0x3f8
#define EXIT_PORT 0x501
/* The guest's FS base (TLS) is set by the VMM: a 32-bit OUT of the address's low half, then the
 * high half, to FS_BASE_PORT. A WRMSR of IA32_FS_BASE at emulated CPL0 shuts this host's
 * PVM-based guests down. */
#define FS_BASE_PORT 0x502
/* FaaS invocations: a 32-bit IN blocks until the next arrival time of the --invocations schedule
 * and returns its working-set bytes; 0 when the schedule is over (or there is none). */
#define INVOKE_PORT 0x503

/* Page-table entry bits. The user bit is our addition to Firecracker's tables: it lets the
 * platform library run the application at CPL3 without rewriting 514 entries at CPL0, where every
 * guest instruction is emulated on PVM hosts (research/hostcheck.md §1). */
#define PTE_P 0x1ul
#define PTE_W 0x2ul
#define PTE_U 0x4ul
#define PTE_PS 0x80ul

/* Guest memory sits at this host address in every VMM, so a sampler can tell it from the VMM's
 * own memory in /proc/PID/smaps by address (anonymous VMA names need CONFIG_ANON_VMA_NAME). */
#define GUEST_HVA 0x100000000000ul

struct options {
	const char *elf;
	const char *description;
	const char *pool;
	const char *cmdline;
	unsigned long mem_mib;
	int mergeable;
	int hold;
	int timing;
	const char *invocations;
	uint64_t epoch_ns; /* CLOCK_MONOTONIC time the schedule's arrival times count from */
	const char *cpuid; /* KVM_GET_SUPPORTED_CPUID's answer saved by --save-cpuid */
	const char *snapshot; /* --snapshot PREFIX: page maps written at load, boot and end (snapshot.c) */
};

/* The CPUID table given to the vCPU. */
#define CPUID_MAX 128
struct cpuid_table {
	struct kvm_cpuid2 c;
	struct kvm_cpuid_entry2 e[CPUID_MAX];
};

/* One invocation of the schedule: arrival (ns after the epoch) and working-set bytes. */
struct invocation {
	uint64_t at_ns;
	uint32_t bytes;
};

struct vm {
	int kvm, vm, vcpu;
	uint8_t *mem;
	size_t mem_size;
	struct kvm_run *run;
	uint64_t entry;
	uint64_t image_end;
	uint64_t fs_base_pending; /* FS_BASE_PORT: the halves written so far */
	int fs_base_halves;
};

static uint64_t t_start, t_entry, t_exit, cpu_at_start_ns;
static volatile int guest_status = -1;
/* Start-up phases, for --timing: when each step before the first KVM_RUN ended (ns), and the
 * process's CPU time from main() to guest entry (what of the wall time was work, not waiting). */
enum { PH_OPEN, PH_CREATE_VM, PH_GUEST_MEM, PH_LOAD, PH_MEMSLOT, PH_CREATE_VCPU, PH_VCPU_REGS, PH_COUNT };
static const char *const phase_names[PH_COUNT] = { "open", "create_vm", "guest_mem", "load", "memslot", "create_vcpu", "vcpu_regs" };
static uint64_t t_phase[PH_COUNT], cpu_at_entry_ns;
static uint64_t the_epoch_ns;
static int boot_snapshot_done;
static struct invocation *schedule;
static size_t schedule_len, schedule_next;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("unimem-vmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(EXIT_VMM_ERROR);
}

static void usage(void)
{
	fputs("usage: unimem-vmm (--elf FILE | --description FILE [--pool DIR]) [--mem-mib N] [--mergeable]\n"
	      "                  [--cmdline TEXT] [--hold] [--timing] [--invocations FILE [--epoch-ns N]] [--cpuid FILE]\n"
	      "                  [--snapshot PREFIX]\n"
	      "       unimem-vmm --save-cpuid FILE\n", stderr);
	_exit(EXIT_VMM_ERROR);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof *o);
	o->mem_mib = 16;
	o->cmdline = "";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--elf") && next) o->elf = argv[++i];
		else if (!strcmp(a, "--description") && next) o->description = argv[++i];
		else if (!strcmp(a, "--pool") && next) o->pool = argv[++i];
		else if (!strcmp(a, "--cmdline") && next) o->cmdline = argv[++i];
		else if (!strcmp(a, "--mem-mib") && next) {
			char *end;
			o->mem_mib = strtoul(argv[++i], &end, 10);
			if (*end || o->mem_mib < 2 || o->mem_mib > 1024) die("--mem-mib: '%s' is not an integer in 2..1024", argv[i]);
		} else if (!strcmp(a, "--mergeable")) o->mergeable = 1;
		else if (!strcmp(a, "--hold")) o->hold = 1;
		else if (!strcmp(a, "--timing")) o->timing = 1;
		else if (!strcmp(a, "--invocations") && next) o->invocations = argv[++i];
		else if (!strcmp(a, "--cpuid") && next) o->cpuid = argv[++i];
		else if (!strcmp(a, "--snapshot") && next) o->snapshot = argv[++i];
		else if (!strcmp(a, "--epoch-ns") && next) {
			char *end;
			o->epoch_ns = strtoull(argv[++i], &end, 10);
			if (*end || !*argv[i]) die("--epoch-ns: '%s' is not an integer", argv[i]);
		} else usage();
	}
	if (!o->elf == !o->description) usage();
	if (strlen(o->cmdline) >= CMDLINE_MAX - 128) die("--cmdline: longer than %d bytes", CMDLINE_MAX - 129);
}

static int kvm_ioctl(int fd, unsigned long req, void *arg, const char *what)
{
	int r = ioctl(fd, req, arg);
	if (r < 0) die("%s: %s", what, strerror(errno));
	return r;
}

static char *read_file(const char *file, size_t *len)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) die("%s: cannot open (%s)", file, strerror(errno));
	if (fstat(fd, &st) < 0) die("%s: %s", file, strerror(errno));
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) die("%s: out of memory", file);
	size_t done = 0;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n <= 0) die("%s: read failed", file);
		done += (size_t)n;
	}
	close(fd);
	buf[done] = 0;
	*len = done;
	return buf;
}

/* The invocation schedule: one line per invocation, "<arrival ns after the epoch> <working-set
 * bytes>", arrivals in order (written by src/realhost/schedule.ts). */
static void read_schedule(const char *file)
{
	size_t len;
	char *text = read_file(file, &len), *p = text;
	size_t cap = 0, line = 1;
	while (*p) {
		char *end;
		unsigned long long at = strtoull(p, &end, 10), bytes;
		if (end == p) die("%s: line %zu: expected '<arrival ns> <working-set bytes>'", file, line);
		bytes = strtoull(p = end, &end, 10);
		if (end == p || bytes == 0 || bytes > 0xffffffffull || (*end && *end != '\n'))
			die("%s: line %zu: expected '<arrival ns> <working-set bytes>' (bytes 1..2^32-1)", file, line);
		if (schedule_len && at < schedule[schedule_len - 1].at_ns) die("%s: line %zu: arrivals out of order", file, line);
		if (schedule_len == cap && !(schedule = realloc(schedule, (cap = cap ? 2 * cap : 64) * sizeof *schedule)))
			die("%s: out of memory", file);
		schedule[schedule_len++] = (struct invocation){ at, (uint32_t)bytes };
		p = *end ? end + 1 : end;
		line++;
	}
	free(text);
}

static void check_range(struct vm *v, const char *file, uint64_t addr, uint64_t size, const char *what)
{
	if (addr > v->mem_size || size > v->mem_size - addr)
		die("%s: %s at 0x%llx (+0x%llx) lies outside the %zu MiB of guest memory", file, what, (unsigned long long)addr,
		    (unsigned long long)size, v->mem_size >> 20);
	if (addr + size > v->image_end) v->image_end = addr + size;
}

/* Read exactly len bytes at off into dst (guest memory). */
static void pread_all(int fd, void *dst, size_t len, off_t off, const char *file)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)dst + done, len - done, off + (off_t)done);
		if (n <= 0) die("%s: short read at offset %lld", file, (long long)(off + (off_t)done));
		done += (size_t)n;
	}
}

/* Standard loader: Firecracker's Elf::load with HIMEM_START as the lowest entry point. */
static void load_elf(struct vm *v, const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	if (fd < 0) die("%s: cannot open (%s)", file, strerror(errno));
	if (pread(fd, &eh, sizeof eh, 0) != sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) die("%s: not an ELF file", file);
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		die("%s: not a little-endian x86-64 ELF64 file", file);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64) die("%s: bad program header table", file);
	if (eh.e_entry < HIMEM_START) die("%s: entry point 0x%llx lies below 0x%x", file, (unsigned long long)eh.e_entry, HIMEM_START);
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != sizeof ph) die("%s: truncated program header %d", file, i);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
		if (ph.p_filesz > ph.p_memsz) die("%s: segment %d has p_filesz > p_memsz", file, i);
		check_range(v, file, ph.p_paddr, ph.p_memsz, "segment");
		/* bss (memsz beyond filesz) stays zero: guest memory is fresh anonymous memory. */
		if (ph.p_filesz) pread_all(fd, v->mem + ph.p_paddr, ph.p_filesz, (off_t)ph.p_offset, file);
	}
	close(fd);
	v->entry = eh.e_entry;
}

static uint64_t json_uint(const struct json_doc *d, const struct json *obj, const char *name, const char *file)
{
	const struct json *n = json_get(d, obj, name);
	if (!n || n->type != JSON_NUMBER || n->number < 0) die("%s: missing or invalid '%s'", file, name);
	return n->integer;
}

static char *json_string(const struct json_doc *d, const struct json *obj, const char *name, const char *file)
{
	const struct json *n = json_get(d, obj, name);
	if (!n || n->type != JSON_STRING || n->len == 0 || n->len > 255 || memchr(n->str, '/', n->len)) die("%s: missing or invalid '%s'", file, name);
	return strndup(n->str, n->len);
}

static void dir_of(const char *file, char *out, size_t cap)
{
	snprintf(out, cap, "%s", file);
	char *slash = strrchr(out, '/');
	if (slash) *slash = 0;
	else snprintf(out, cap, ".");
}

/* Pool loader: map shared entries from the pool, copy the private sections. */
static void load_description(struct vm *v, const char *file, const char *pool_arg)
{
	size_t len;
	char *text = read_file(file, &len);
	struct json_doc d;
	char images_dir[4096], pool[4096], path[8192];
	if (json_parse(&d, text, len) < 0) die("%s: not a JSON description (%s)", file, d.error);
	const struct json *root = &d.nodes[0];
	const struct json *magic = json_get(&d, root, "magic");
	if (!magic || magic->type != JSON_STRING || magic->len != 24 || memcmp(magic->str, "unimem-image-description", 24) != 0)
		die("%s: not a unimem image description (bad magic)", file);
	dir_of(file, images_dir, sizeof images_dir);
	if (pool_arg) snprintf(pool, sizeof pool, "%s", pool_arg);
	else dir_of(images_dir, pool, sizeof pool);
	v->entry = json_uint(&d, root, "entry", file);
	if (v->entry < HIMEM_START) die("%s: entry point 0x%llx lies below 0x%x", file, (unsigned long long)v->entry, HIMEM_START);

	const struct json *shared = json_get(&d, root, "shared");
	if (!shared || shared->type != JSON_ARRAY) die("%s: missing 'shared'", file);
	for (int i = 0; i < shared->children; i++) {
		const struct json *s = json_at(&d, shared, i);
		uint64_t vaddr = json_uint(&d, s, "vaddr", file), size = json_uint(&d, s, "size", file);
		char *entry = json_string(&d, s, "entry", file);
		if (vaddr % PAGE || size % PAGE || size == 0) die("%s: shared entry %d is not whole pages", file, i);
		check_range(v, file, vaddr, size, "shared entry");
		snprintf(path, sizeof path, "%s/entries/%s", pool, entry);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0) die("%s: pool entry missing (%s)", path, strerror(errno));
		if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) die("%s: pool entry has %lld bytes, the description says %llu", path, (long long)st.st_size, (unsigned long long)size);
		/* Private and writable like Spacer-SLT's loader: reads share the pool's page-cache
		 * pages, a guest write gets its own copy. */
		if (mmap(v->mem + vaddr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED)
			die("%s: mmap failed (%s)", path, strerror(errno));
		close(fd);
		free(entry);
	}

	char *priv_name = json_string(&d, root, "privateFile", file);
	snprintf(path, sizeof path, "%s/%s", images_dir, priv_name);
	int pfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pfd < 0) die("%s: private remainder missing (%s)", path, strerror(errno));
	const struct json *priv = json_get(&d, root, "private");
	if (!priv || priv->type != JSON_ARRAY) die("%s: missing 'private'", file);
	for (int i = 0; i < priv->children; i++) {
		const struct json *s = json_at(&d, priv, i);
		const struct json *off = json_get(&d, s, "offset");
		uint64_t vaddr = json_uint(&d, s, "vaddr", file), size = json_uint(&d, s, "size", file);
		if (!off || off->type != JSON_NUMBER) die("%s: private section %d has no offset", file, i);
		check_range(v, file, vaddr, size, "private section");
		if (off->number < 0) continue; /* bss: zero in fresh memory */
		pread_all(pfd, v->mem + vaddr, size, (off_t)off->integer, path);
	}
	close(pfd);
	free(priv_name);
	json_free(&d);
	free(text);
}

static void put64(struct vm *v, uint64_t gpa, uint64_t val) { memcpy(v->mem + gpa, &val, 8); }
static void put32(struct vm *v, uint64_t gpa, uint32_t val) { memcpy(v->mem + gpa, &val, 4); }

/* GDT entry in Firecracker's gdt_entry(flags, base, limit) encoding. */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) | ((uint64_t)(limit & 0x000f0000u) << 32) |
	       ((uint64_t)(base & 0x00ffffffu) << 16) | (uint64_t)(limit & 0x0000ffffu);
}

static void segment_of(uint64_t entry, uint16_t index, struct kvm_segment *s)
{
	memset(s, 0, sizeof *s);
	s->base = ((entry >> 16) & 0xffffff) | (((entry >> 56) & 0xff) << 24);
	s->limit = (uint32_t)((entry & 0xffff) | (((entry >> 48) & 0xf) << 16));
	if ((entry >> 55) & 1) s->limit = (s->limit << 12) | 0xfff; /* granularity */
	s->selector = (uint16_t)(index * 8);
	s->type = (entry >> 40) & 0xf;
	s->s = (entry >> 44) & 1;
	s->dpl = (entry >> 45) & 3;
	s->present = (entry >> 47) & 1;
	s->avl = (entry >> 52) & 1;
	s->l = (entry >> 53) & 1;
	s->db = (entry >> 54) & 1;
	s->g = (entry >> 55) & 1;
}

/* Boot structures in guest memory (Firecracker: configure_system, setup_page_tables, write_gdt). */
static void write_boot_structures(struct vm *v, const char *cmdline, uint64_t gdt[4])
{
	gdt[0] = gdt_entry(0, 0, 0);
	gdt[1] = gdt_entry(0xa09b, 0, 0xfffff); /* 64-bit code */
	gdt[2] = gdt_entry(0xc093, 0, 0xfffff); /* data */
	gdt[3] = gdt_entry(0x808b, 0, 0xfffff); /* TSS */
	for (int i = 0; i < 4; i++) put64(v, GDT_ADDR + 8ul * i, gdt[i]);
	put64(v, IDT_ADDR, 0);
	/* Identity map of the first GiB with 2 MiB pages. */
	put64(v, PML4_ADDR, PDPTE_ADDR | PTE_P | PTE_W | PTE_U);
	put64(v, PDPTE_ADDR, PDE_ADDR | PTE_P | PTE_W | PTE_U);
	for (uint64_t i = 0; i < 512; i++) put64(v, PDE_ADDR + i * 8, (i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS);
	/* Command line and the Linux boot parameters ("zero page") with the e820 map. */
	size_t clen = strlen(cmdline);
	memcpy(v->mem + CMDLINE_ADDR, cmdline, clen + 1);
	uint8_t *zp = v->mem + ZERO_PAGE_ADDR;
	zp[0x1fe] = 0x55, zp[0x1ff] = 0xaa;       /* hdr.boot_flag */
	memcpy(zp + 0x202, "HdrS", 4);            /* hdr.header */
	zp[0x210] = 0xff;                          /* hdr.type_of_loader: undefined */
	put32(v, ZERO_PAGE_ADDR + 0x228, CMDLINE_ADDR);   /* hdr.cmd_line_ptr */
	put32(v, ZERO_PAGE_ADDR + 0x238, (uint32_t)clen); /* hdr.cmdline_size */
	put32(v, ZERO_PAGE_ADDR + 0x230, 0x1000000);      /* hdr.kernel_alignment */
	zp[0x1e8] = 2;                                     /* e820_entries */
	put64(v, ZERO_PAGE_ADDR + 0x2d0, 0);
	put64(v, ZERO_PAGE_ADDR + 0x2d8, EBDA_START);
	put32(v, ZERO_PAGE_ADDR + 0x2e0, 1);
	put64(v, ZERO_PAGE_ADDR + 0x2e4, HIMEM_START);
	put64(v, ZERO_PAGE_ADDR + 0x2ec, v->mem_size - HIMEM_START);
	put32(v, ZERO_PAGE_ADDR + 0x2f4, 1);
}

/* The command line the guest sees: the user's, then what the platform library needs to know. */
static const char *guest_cmdline(struct vm *v, const char *user)
{
	static char buf[CMDLINE_MAX];
	long khz = ioctl(v->vcpu, KVM_GET_TSC_KHZ, 0);
	snprintf(buf, sizeof buf, "%s%sunimem.image_end=%llu unimem.tsc_khz=%ld", user, *user ? " " : "", (unsigned long long)v->image_end, khz > 0 ? khz : 0);
	return buf;
}

/*
 * KVM_GET_SUPPORTED_CPUID is about half of a VMM's CPU time to guest entry on this nested host
 * (every CPUID the kernel runs exits to the outer hypervisor), and its answer is the same for
 * every VM of a machine: a run asks once (--save-cpuid) and gives the table to each VMM (--cpuid).
 */
static const char *cpuid_file;

static void read_cpuid(const char *file, struct cpuid_table *t)
{
	size_t len;
	char *bytes = read_file(file, &len);
	if (len == 0 || len % sizeof t->e[0] || len / sizeof t->e[0] > CPUID_MAX)
		die("%s: not a saved CPUID table (%zu bytes)", file, len);
	t->c.nent = (uint32_t)(len / sizeof t->e[0]);
	memcpy(t->e, bytes, len);
	free(bytes);
}

static int save_cpuid(const char *file)
{
	struct cpuid_table t = { .c.nent = CPUID_MAX };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) die("/dev/kvm: %s", strerror(errno));
	kvm_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &t, "KVM_GET_SUPPORTED_CPUID");
	FILE *f = fopen(file, "wb");
	if (!f || fwrite(t.e, sizeof t.e[0], t.c.nent, f) != t.c.nent || fclose(f) != 0) die("%s: cannot write", file);
	return 0;
}

static void setup_vcpu(struct vm *v, const char *user_cmdline)
{
	const char *cmdline = guest_cmdline(v, user_cmdline);
	uint64_t gdt[4];
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	struct cpuid_table cpuid = { .c.nent = CPUID_MAX };

	write_boot_structures(v, cmdline, gdt);
	if (cpuid_file) read_cpuid(cpuid_file, &cpuid);
	else kvm_ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, &cpuid, "KVM_GET_SUPPORTED_CPUID");
	kvm_ioctl(v->vcpu, KVM_SET_CPUID2, &cpuid, "KVM_SET_CPUID2");

	kvm_ioctl(v->vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	struct kvm_segment code, data, tss;
	segment_of(gdt[1], 1, &code);
	segment_of(gdt[2], 2, &data);
	segment_of(gdt[3], 3, &tss);
	sregs.gdt.base = GDT_ADDR;
	sregs.gdt.limit = sizeof(uint64_t) * 4 - 1;
	sregs.idt.base = IDT_ADDR;
	sregs.idt.limit = sizeof(uint64_t) - 1;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tss;
	sregs.cr3 = PML4_ADDR;
	sregs.cr4 |= 1u << 5;                              /* PAE */
	sregs.cr0 |= 1u | (1u << 31);                       /* PE, PG */
	sregs.efer |= (1u << 8) | (1u << 10);               /* LME, LMA */
	kvm_ioctl(v->vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

	memset(&regs, 0, sizeof regs);
	regs.rflags = 2;
	regs.rip = v->entry;
	regs.rsp = regs.rbp = BOOT_STACK_POINTER;
	regs.rsi = ZERO_PAGE_ADDR;
	kvm_ioctl(v->vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");

	memset(&fpu, 0, sizeof fpu);
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	kvm_ioctl(v->vcpu, KVM_SET_FPU, &fpu, "KVM_SET_FPU");
}

static void create_vm(struct vm *v, const struct options *o)
{
	memset(v, 0, sizeof *v);
	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0) die("/dev/kvm: %s", strerror(errno));
	if (ioctl(v->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) die("/dev/kvm: unexpected KVM API version");
	t_phase[PH_OPEN] = now_ns();
	v->vm = kvm_ioctl(v->kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	t_phase[PH_CREATE_VM] = now_ns();
	v->mem_size = o->mem_mib << 20;
	/* Like Firecracker: private anonymous memory, allocated on first touch. */
	v->mem = mmap((void *)GUEST_HVA, v->mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (v->mem == MAP_FAILED) die("guest memory: mmap of %lu MiB failed (%s)", o->mem_mib, strerror(errno));
	if (o->mergeable && madvise(v->mem, v->mem_size, MADV_MERGEABLE) < 0) die("madvise(MADV_MERGEABLE): %s", strerror(errno));
	t_phase[PH_GUEST_MEM] = now_ns();
}

/*
 * One memory slot over all guest memory, then the vCPU. KVM_SET_USER_MEMORY_REGION waits for an
 * SRCU grace period (kvm_swap_active_memslots), which kernel workers complete: milliseconds to
 * tens of ms when the CPUs are busy (docs/realhost.md). Adding it on a thread of its own, beside
 * the image load and vCPU set-up, gained nothing measurable here (the thread's own start waits for
 * a CPU too), so it stays in line.
 */
static void add_memslot(struct vm *v)
{
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = v->mem_size,
		.userspace_addr = (uint64_t)(uintptr_t)v->mem,
	};
	kvm_ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
	t_phase[PH_MEMSLOT] = now_ns();
	v->vcpu = kvm_ioctl(v->vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
	int size = kvm_ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
	v->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED) die("kvm_run: mmap failed (%s)", strerror(errno));
	t_phase[PH_CREATE_VCPU] = now_ns();
}

static void write_console(const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return; /* nobody listens: the guest goes on */
		buf += n;
		len -= (size_t)n;
	}
}

static int guest_crash(struct vm *v, const char *what)
{
	struct kvm_regs regs;
	ioctl(v->vcpu, KVM_GET_REGS, &regs);
	fprintf(stderr, "unimem-vmm: guest %s at rip=0x%llx\n", what, (unsigned long long)regs.rip);
	return EXIT_GUEST_CRASH;
}

/* INVOKE_PORT: sleep until the next arrival, return its working-set bytes (0 when none is left). */
static uint32_t next_invocation(void)
{
	if (schedule_next == schedule_len) return 0;
	struct invocation *inv = &schedule[schedule_next++];
	uint64_t at = the_epoch_ns + inv->at_ns;
	struct timespec ts = { .tv_sec = (time_t)(at / 1000000000ull), .tv_nsec = (long)(at % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return inv->bytes;
}

/* One port I/O exit; returns -1 to go on, else the guest's exit status. */
static int handle_io(struct vm *v)
{
	struct kvm_run *r = v->run;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;
	size_t bytes = (size_t)r->io.size * r->io.count;
	if (r->io.direction == KVM_EXIT_IO_OUT) {
		if (r->io.port == SERIAL_PORT) write_console(data, bytes);
		else if (r->io.port == FS_BASE_PORT && r->io.size == 4) {
			uint32_t half = 0;
			memcpy(&half, data, 4);
			v->fs_base_pending = (v->fs_base_pending >> 32) | ((uint64_t)half << 32);
			if (++v->fs_base_halves == 2) {
				struct kvm_sregs sregs;
				v->fs_base_halves = 0;
				ioctl(v->vcpu, KVM_GET_SREGS, &sregs);
				sregs.fs.base = v->fs_base_pending;
				ioctl(v->vcpu, KVM_SET_SREGS, &sregs);
			}
		} else if (r->io.port == EXIT_PORT) {
			uint32_t status = 0;
			memcpy(&status, data, r->io.size < 4 ? r->io.size : 4);
			return (int)(status & 0xff);
		}
		return -1;
	}
	if (r->io.port == INVOKE_PORT && r->io.size == 4) {
		/* The guest asks for its first invocation: its boot (and the application's one run) is done. */
		if (schedule_next == 0 && !boot_snapshot_done) {
			boot_snapshot_done = 1;
			snapshot_write(v->mem, v->mem_size, "boot");
		}
		uint32_t ws = next_invocation();
		memcpy(data, &ws, 4);
		return -1;
	}
	/* Inputs: the UART's line status says "transmitter empty"; other ports float high. */
	memset(data, 0xff, bytes);
	if (r->io.port == SERIAL_PORT + 5) memset(data, 0x60, bytes);
	return -1;
}

static int run_vcpu(struct vm *v)
{
	t_entry = now_ns();
	cpu_at_entry_ns = cpu_ns();
	for (;;) {
		if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			fprintf(stderr, "unimem-vmm: KVM_RUN: %s\n", strerror(errno));
			return EXIT_VMM_ERROR;
		}
		int status;
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			if ((status = handle_io(v)) >= 0) return status;
			break;
		case KVM_EXIT_HLT:
			return 0;
		case KVM_EXIT_SHUTDOWN:
			return guest_crash(v, "shut down (triple fault)");
		case KVM_EXIT_MMIO:
			fprintf(stderr, "unimem-vmm: guest accessed 0x%llx outside its memory\n", (unsigned long long)v->run->mmio.phys_addr);
			return guest_crash(v, "crashed");
		case KVM_EXIT_FAIL_ENTRY:
			fprintf(stderr, "unimem-vmm: VM entry failed (reason 0x%llx)\n", (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
			return EXIT_VMM_ERROR;
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr, "unimem-vmm: KVM internal error (suberror %u)\n", v->run->internal.suberror);
			return guest_crash(v, "stopped");
		default:
			fprintf(stderr, "unimem-vmm: unexpected exit reason %u\n", v->run->exit_reason);
			return guest_crash(v, "stopped");
		}
	}
}


static struct vm the_vm;

static void *vcpu_thread(void *arg)
{
	(void)arg;
	guest_status = run_vcpu(&the_vm);
	t_exit = now_ns();
	snapshot_write(the_vm.mem, the_vm.mem_size, "end");
	kill(getpid(), SIGUSR1);
	return NULL;
}

/* The --timing line: clocks, start to entry, each start-up phase (µs) and the CPU time spent. */
static void print_timing(void)
{
	char phases[256];
	size_t n = 0;
	uint64_t prev = t_start;
	for (int i = 0; i < PH_COUNT; i++) {
		n += (size_t)snprintf(phases + n, sizeof phases - n, "%s%s:%.1f", i ? "," : "", phase_names[i], (double)(t_phase[i] - prev) / 1000.0);
		prev = t_phase[i];
	}
	snprintf(phases + n, sizeof phases - n, ",thread:%.1f", (double)(t_entry - prev) / 1000.0);
	fprintf(stderr, "unimem-vmm: timing start_ns=%llu entry_ns=%llu exit_ns=%llu setup_us=%.1f status=%d phases_us=%s cpu_us=%.1f invocations=%zu\n",
		(unsigned long long)t_start, (unsigned long long)t_entry, (unsigned long long)t_exit, (double)(t_entry - t_start) / 1000.0,
		guest_status, phases, (double)(cpu_at_entry_ns - cpu_at_start_ns) / 1000.0, schedule_next);
}

int main(int argc, char **argv)
{
	struct options o;
	sigset_t set;
	pthread_t thread;
	pthread_attr_t attr;

	t_start = now_ns();
	cpu_at_start_ns = cpu_ns();
	if (argc == 3 && !strcmp(argv[1], "--save-cpuid")) return save_cpuid(argv[2]);
	parse_args(argc, argv, &o);
	cpuid_file = o.cpuid;
	/* The VMs of a run die with the run (a later run also cleans up by its state file). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1) die("parent exited before start");
	if (o.invocations) read_schedule(o.invocations);
	the_epoch_ns = o.epoch_ns ? o.epoch_ns : t_start;

	create_vm(&the_vm, &o);
	if (o.elf) load_elf(&the_vm, o.elf);
	else load_description(&the_vm, o.description, o.pool);
	/* The loaders' buffers (the description's text and parse) are freed: give their pages back,
	 * so that the pool loader's VMM holds no more memory than the standard loader's. */
	malloc_trim(0);
	if (o.snapshot) snapshot_init(o.snapshot);
	/* The image as loaded, before the VMM's boot structures and the guest's own writes. */
	snapshot_write(the_vm.mem, the_vm.mem_size, "load");
	t_phase[PH_LOAD] = now_ns();
	add_memslot(&the_vm);
	setup_vcpu(&the_vm, o.cmdline);
	t_phase[PH_VCPU_REGS] = now_ns();

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&thread, &attr, vcpu_thread, NULL) != 0) die("cannot start the vCPU thread");
	pthread_setname_np(thread, "unimem-vcpu0");

	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig < 0) continue;
		if (sig == SIGUSR1) {
			if (o.timing) print_timing();
			if (o.hold) {
				/* The instance stays resident (a warm FaaS instance) until told to stop. */
				fprintf(stderr, "unimem-vmm: holding guest memory (status %d, invocations %zu)\n", guest_status, schedule_next);
				continue;
			}
			_exit(guest_status);
		}
		_exit(guest_status >= 0 ? guest_status : 128 + sig);
	}
}
