/*
 * Platform library, KVM side: the same image that runs as a Linux process also boots under
 * unimem-vmm (native/vmm), entered at CPL0 in 64-bit mode the way Firecracker enters an ELF kernel
 * (%rsi = Linux boot parameters with the e820 map and the command line).
 *
 * Guest code at CPL0 is emulated on PVM hosts at about 1 µs per instruction, CPL3 code runs at
 * native speed (research/hostcheck.md §1). So this file does the least possible at CPL0: load a GDT
 * with user segments, enable SSE and `syscall`, build a Linux initial stack (argc, argv, envp,
 * auxv) at the top of guest memory, and `iretq` to the Linux entry of `_start` at CPL3. From there
 * the image is a Linux process: its system calls enter `ukplat_kvm_syscall_entry` through LSTAR and
 * are served here (serial console, exit port, memory from the guest's RAM). Compiled without SSE
 * registers: it runs before SSE is enabled and in the system-call path.
 *
 * FaaS invocations: when the application exits, the instance serves the invocations the VMM hands
 * out (port 0x503 blocks until the next arrival of the run's Poisson schedule and returns its
 * working-set bytes; 0 ends), writing each working set with fresh content at CPL3, as the simulated
 * host's FaaS model does (src/experiments/dedup/faas.ts), then exits with the application's status.
 */
#pragma GCC target("general-regs-only")
#include "uk.h"

#define SERIAL_PORT 0x3f8
#define EXIT_PORT 0x501
#define INVOKE_PORT 0x503
/* Our system call (outside Linux's numbers): wait for the next invocation, return its bytes. */
#define SYS_NEXT_INVOCATION 1000
#define PAGE_SIZE 4096ul
#define USER_STACK_BYTES (256ul * 1024)

/* GDT: kernel code/data at 0x08/0x10; STAR's user base 0x18 gives sysret SS 0x23 and CS 0x2b. */
#define KERNEL_CS 0x08
#define USER_DS (0x20 | 3)
#define USER_CS (0x28 | 3)
static u64 kvm_gdt[6] __attribute__((aligned(16))) = {
	0,
	0x00af9b000000ffffull, /* kernel code, 64-bit */
	0x00cf93000000ffffull, /* kernel data */
	0x00cffb000000ffffull, /* user code, 32-bit (sysret's base; unused) */
	0x00cff3000000ffffull, /* user data */
	0x00affb000000ffffull, /* user code, 64-bit */
};

/* Stack of the system-call handler (CPL0); the user stack pointer is kept while it runs. */
u8 ukplat_kvm_kstack[16384] __attribute__((aligned(16)));
u64 ukplat_kvm_user_rsp;

static u64 kvm_mem_top;   /* end of guest RAM */
static u64 kvm_brk_start, kvm_brk;
static u64 kvm_mmap_low;  /* anonymous mappings grow down from below the user stack */
static u64 kvm_fs_base;
static u64 kvm_rand_state;
static const char *kvm_cmdline;
static u64 kvm_tsc_khz;
static int kvm_serving; /* the application has exited; invocations are being served */


static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

/* Local loops, not nolibc's: the system-call path must not touch the application's SSE registers. */
static void kvm_memset(void *dst, int c, u64 n)
{
	for (u64 i = 0; i < n; i++)
		((u8 *)dst)[i] = (u8)c;
}

static void kvm_memcpy(void *dst, const void *src, u64 n)
{
	for (u64 i = 0; i < n; i++)
		((u8 *)dst)[i] = ((const u8 *)src)[i];
}

static u64 kvm_strlen(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	return n;
}

static void kvm_console(const char *buf, u64 len)
{
	/* One string I/O exit per call, not one per byte. */
	__asm__ volatile("rep outsb" : "+S"(buf), "+c"(len) : "d"(SERIAL_PORT) : "memory");
}

static void __attribute__((noreturn)) kvm_exit_port(u64 status)
{
	for (;;) {
		__asm__ volatile("outl %0, %1" ::"a"((u32)status), "Nd"((unsigned short)EXIT_PORT));
		__asm__ volatile("hlt");
	}
}

static u64 cmdline_value(const char *key);

/* Largest RAM end in the e820 map of the boot parameters (Linux zero page layout). */
static u64 e820_top(const u8 *zp)
{
	u64 top = 0;
	u8 n = zp[0x1e8];
	for (u8 i = 0; i < n; i++) {
		const u8 *e = zp + 0x2d0 + 20 * (u64)i;
		u64 addr = *(const u64 *)e, size = *(const u64 *)(e + 8);
		if (*(const u32 *)(e + 16) == 1 && addr + size > top)
			top = addr + size;
	}
	return top;
}

/*
 * CPL0 setup; returns the user stack pointer. The Linux initial stack: argc, argv[], NULL,
 * envp[] = NULL, auxv (AT_PAGESZ, AT_RANDOM, AT_NULL), as the images' C runtime expects.
 */
u64 ukplat_kvm_setup(const u8 *boot_params)
{
	struct { unsigned short limit; u64 base; } __attribute__((packed)) gdtr = { sizeof kvm_gdt - 1, (u64)kvm_gdt };
	u64 cr0, cr4, *sp;
	char *strings;

	__asm__ volatile("lgdt %0" ::"m"(gdtr));
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	cr0 = (cr0 & ~((1ul << 30) | (1ul << 29) | (1ul << 2))) | (1ul << 1) | (1ul << 5); /* caches on, no EM; MP, NE */
	__asm__ volatile("mov %0, %%cr0" ::"r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= (1ul << 9) | (1ul << 10); /* OSFXSR, OSXMMEXCPT: SSE for the application */
	__asm__ volatile("mov %0, %%cr4" ::"r"(cr4));
	wrmsr(0xc0000080, rdmsr(0xc0000080) | 1);                           /* EFER.SCE */
	wrmsr(0xc0000081, ((u64)(0x18 | 3) << 48) | ((u64)KERNEL_CS << 32)); /* STAR */
	/* LSTAR. RIP-relative, not an absolute address: the library's bytes must not depend on where
	 * it is placed (ASLR instances share them, src/image/trampoline.ts). */
	u64 entry;
	__asm__("lea ukplat_kvm_syscall_entry(%%rip), %0" : "=r"(entry));
	wrmsr(0xc0000082, entry);
	wrmsr(0xc0000084, 0x47700);                                          /* SFMASK: TF, DF, IF, AC, NT */

	kvm_cmdline = (const char *)(u64) * (const u32 *)(boot_params + 0x228);
	kvm_mem_top = e820_top(boot_params);
	kvm_mmap_low = kvm_mem_top - USER_STACK_BYTES;
	kvm_rand_state = rdtsc() | 1;

	strings = (char *)(kvm_mem_top - 32);
	kvm_memcpy(strings, "unikernel", 10);
	((u64 *)(strings + 16))[0] = rdtsc() * 0x9e3779b97f4a7c15ull; /* AT_RANDOM bytes */
	((u64 *)(strings + 16))[1] = rdtsc() * 0xbf58476d1ce4e5b9ull;
	sp = (u64 *)(kvm_mem_top - 128);
	sp[0] = 1;               /* argc */
	sp[1] = (u64)strings;    /* argv[0] */
	sp[2] = 0;
	sp[3] = 0;               /* envp */
	sp[4] = 6, sp[5] = PAGE_SIZE;           /* AT_PAGESZ */
	sp[6] = 25, sp[7] = (u64)(strings + 16); /* AT_RANDOM */
	sp[8] = 0, sp[9] = 0;                    /* AT_NULL */
	return (u64)sp;
}

/*
 * First code at CPL3 (native speed): the heap starts after the image (the VMM passes the image's
 * end), then the boot work of the FaaS model that the experiment's description asks for on the
 * command line (src/experiments/dedup/faas.ts): `unimem.init_kib` of heap and stack written with
 * per-instance content (`unimem.instance`), as the simulated host writes them at boot.
 */
void ukplat_kvm_user_init(void)
{
	u64 end = cmdline_value("unimem.image_end");
	u64 base = (end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	u64 words = cmdline_value("unimem.init_kib") * 128;
	u64 x = cmdline_value("unimem.instance") * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	u64 *p = (u64 *)base;
	if (base + words * 8 > kvm_mmap_low)
		words = 0;
	for (u64 i = 0; i < words; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
	kvm_brk_start = kvm_brk = base + words * 8;
}

static long kvm_user_syscall1(long nr, long a)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a) : "rcx", "r11", "memory");
	return ret;
}

/*
 * CPL3, after the application's exit: serve invocations until the schedule ends, then exit with
 * the application's status. Each writes its working set (whole pages, as the simulated host
 * counts them) right after the boot work, where the simulated host writes it (heap after the
 * boot-time pages), with content unique to the instance and the invocation. The application's
 * heap there is no longer needed.
 */
void ukplat_kvm_serve(long status)
{
	u64 base = (kvm_brk_start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	u64 instance = cmdline_value("unimem.instance");
	for (u64 n = 2;; n++) { /* as the simulator: the boot work was the first content */
		u64 bytes = (u64)kvm_user_syscall1(SYS_NEXT_INVOCATION, 0);
		if (bytes == 0)
			break;
		u64 pages = (bytes + PAGE_SIZE - 1) / PAGE_SIZE;
		if (pages > (kvm_mmap_low - base) / PAGE_SIZE)
			pages = (kvm_mmap_low - base) / PAGE_SIZE;
		u64 x = instance * 0x9e3779b97f4a7c15ull + n * 0xbf58476d1ce4e5b9ull + 1;
		u64 *p = (u64 *)base;
		for (u64 i = 0; i < pages * (PAGE_SIZE / 8); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = x;
		}
	}
	for (;;)
		kvm_user_syscall1(231, status);
}

/* From the exit system call (CPL0) to ukplat_kvm_serve at CPL3, on the application's stack. */
static void __attribute__((noreturn)) kvm_serve_invocations(long status)
{
	u64 sp = (ukplat_kvm_user_rsp & ~15ul) - 8; /* as after a call */
	u64 rip;
	kvm_serving = 1;
	__asm__("lea ukplat_kvm_serve(%%rip), %0" : "=r"(rip));
	__asm__ volatile("pushq $0x23\n"
			 "push %0\n"
			 "pushq $0x2\n"
			 "pushq $0x2b\n"
			 "push %1\n"
			 "iretq" ::"r"(sp), "r"(rip), "D"(status) : "memory");
	__builtin_unreachable();
}

static u64 kvm_next_invocation(void)
{
	u32 bytes;
	__asm__ volatile("inl %1, %0" : "=a"(bytes) : "Nd"((unsigned short)INVOKE_PORT));
	return bytes;
}

/* System calls at CPL0. Linux numbers and error codes (x86-64). */
#define E(n) (-(long)(n))
enum { ENOENT = 2, EBADF = 9, ENOMEM = 12, EFAULT = 14, EINVAL = 22, ENOTTY = 25, ESPIPE = 29, ENOSYS = 38 };

static long sys_write(long fd, const char *buf, u64 len)
{
	if (fd != 1 && fd != 2)
		return E(EBADF);
	kvm_console(buf, len);
	return (long)len;
}

static long sys_writev(long fd, const u64 *iov, long n)
{
	long total = 0;
	if (fd != 1 && fd != 2)
		return E(EBADF);
	for (long i = 0; i < n; i++) {
		kvm_console((const char *)iov[2 * i], iov[2 * i + 1]);
		total += (long)iov[2 * i + 1];
	}
	return total;
}

static long sys_mmap(u64 addr, u64 len, long flags, long fd)
{
	u64 size = (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	if (flags & 0x10) /* MAP_FIXED inside guest RAM: the memory is already there */
		return addr + size <= kvm_mem_top ? (long)addr : E(ENOMEM);
	if (!(flags & 0x20) || fd != -1) /* only anonymous mappings: there is no file system */
		return E(ENOSYS);
	if (size == 0 || kvm_mmap_low < kvm_brk + size)
		return E(ENOMEM);
	kvm_mmap_low -= size;
	/* Fresh guest memory is zero; memory given back by munmap is never handed out again. */
	return (long)kvm_mmap_low;
}

static long sys_brk(u64 want)
{
	if (want >= kvm_brk_start && want <= kvm_mmap_low)
		kvm_brk = want;
	return (long)kvm_brk;
}

static u64 cmdline_value(const char *key)
{
	const char *p = kvm_cmdline;
	u64 n = kvm_strlen(key), v = 0;
	while (p && *p) {
		u64 k = 0;
		while (k < n && p[k] == key[k])
			k++;
		if (k == n && p[n] == '=') {
			for (p += n + 1; (*p >= '0' && *p <= '9'); p++)
				v = v * 10 + (u64)(*p - '0');
			return v;
		}
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	return 0;
}

/* Nanoseconds since boot from the TSC; its rate comes from the VMM (`unimem.tsc_khz=` on the command line). */
static u64 kvm_now_ns(void)
{
	if (!kvm_tsc_khz)
		kvm_tsc_khz = cmdline_value("unimem.tsc_khz");
	if (!kvm_tsc_khz)
		kvm_tsc_khz = 1000000;
	u64 t = rdtsc();
	return t / kvm_tsc_khz * 1000000 + t % kvm_tsc_khz * 1000000 / kvm_tsc_khz;
}

static long sys_clock_gettime(u64 *ts)
{
	u64 ns = kvm_now_ns();
	ts[0] = ns / 1000000000;
	ts[1] = ns % 1000000000;
	return 0;
}

static long sys_getrandom(u8 *buf, u64 len)
{
	for (u64 i = 0; i < len; i++) {
		kvm_rand_state ^= kvm_rand_state << 13;
		kvm_rand_state ^= kvm_rand_state >> 7;
		kvm_rand_state ^= kvm_rand_state << 17;
		buf[i] = (u8)kvm_rand_state;
	}
	return (long)len;
}

static void uname_field(char *u, int i, const char *s)
{
	kvm_memcpy(u + 65 * i, s, kvm_strlen(s));
}

/* Field by field: a table of string pointers would put absolute addresses into .rodata. */
static long sys_uname(char *u)
{
	kvm_memset(u, 0, 65 * 6);
	uname_field(u, 0, "Linux");
	uname_field(u, 1, "unikernel");
	uname_field(u, 2, "6.1.0-unimem");
	uname_field(u, 3, "#1");
	uname_field(u, 4, "x86_64");
	return 0;
}

static long sys_fstat(long fd, u8 *st)
{
	if (fd < 0 || fd > 2)
		return E(EBADF);
	kvm_memset(st, 0, 144);
	*(u32 *)(st + 24) = 0020620; /* st_mode: a character device, like a terminal */
	*(long *)(st + 56) = 1024;   /* st_blksize */
	return 0;
}

static long sys_arch_prctl(long code, u64 addr)
{
	if (code == 0x1002) { /* ARCH_SET_FS */
		kvm_fs_base = addr;
		/* The VMM sets FS base (native/vmm: FS_BASE_PORT); WRMSR of IA32_FS_BASE at emulated
		 * CPL0 shuts this host's PVM-based guests down. Low half first, then high half. */
		__asm__ volatile("outl %0, %1" ::"a"((u32)addr), "Nd"((unsigned short)0x502));
		__asm__ volatile("outl %0, %1" ::"a"((u32)(addr >> 32)), "Nd"((unsigned short)0x502));
		return 0;
	}
	if (code == 0x1003) { /* ARCH_GET_FS */
		*(u64 *)addr = kvm_fs_base;
		return 0;
	}
	return E(EINVAL);
}

static long unimplemented(long nr)
{
	char line[48] = "ukplat: unimplemented system call ";
	u64 n = 34, digits = 1;
	for (u64 v = (u64)nr; v >= 10; v /= 10)
		digits++;
	for (u64 i = digits, v = (u64)nr; i > 0; i--, v /= 10)
		line[n + i - 1] = (char)('0' + v % 10);
	line[n + digits] = '\n';
	kvm_console(line, n + digits + 1);
	return E(ENOSYS);
}

long ukplat_kvm_syscall(long nr, long a, long b, long c, long d, long e)
{
	(void)e;
	switch (nr) {
	case 0: /* read: no input */
		return a == 0 ? 0 : E(EBADF);
	case 1: return sys_write(a, (const char *)b, (u64)c);
	case 20: return sys_writev(a, (const u64 *)b, c);
	case 60: /* exit */
	case 231: /* exit_group */
		if (!kvm_serving)
			kvm_serve_invocations(a);
		kvm_exit_port((u64)a);
	case SYS_NEXT_INVOCATION: return (long)kvm_next_invocation();
	case 9: return sys_mmap((u64)a, (u64)b, d, e);
	case 11: /* munmap */
	case 10: /* mprotect */
	case 28: /* madvise */
		return 0;
	case 25: /* mremap */
		return E(ENOMEM);
	case 12: return sys_brk((u64)a);
	case 158: return sys_arch_prctl(a, (u64)b);
	case 218: /* set_tid_address */
	case 39:  /* getpid */
	case 186: /* gettid */
		return 1;
	case 16: /* ioctl */
		if (b == 0x5413 && a >= 0 && a <= 2) { /* TIOCGWINSZ: the serial console is a 24x80 terminal */
			((unsigned short *)c)[0] = 24;
			((unsigned short *)c)[1] = 80;
			((unsigned short *)c)[2] = 0;
			((unsigned short *)c)[3] = 0;
			return 0;
		}
		return E(ENOTTY);
	case 3: /* close */
		return a >= 0 && a <= 2 ? 0 : E(EBADF);
	case 5: return sys_fstat(a, (u8 *)b);
	case 8: /* lseek */
		return E(ESPIPE);
	case 2:   /* open */
	case 257: /* openat */
	case 4:   /* stat */
	case 6:   /* lstat */
	case 262: /* newfstatat */
	case 21:  /* access */
		return E(ENOENT);
	case 13:  /* rt_sigaction */
	case 14:  /* rt_sigprocmask */
	case 131: /* sigaltstack */
	case 202: /* futex: one thread, nobody to wait for */
	case 24:  /* sched_yield */
	case 35:  /* nanosleep: time is not simulated */
	case 230: /* clock_nanosleep */
	case 273: /* set_robust_list */
	case 102: /* getuid */
	case 104: /* getgid */
	case 107: /* geteuid */
	case 108: /* getegid */
		return 0;
	case 228: return sys_clock_gettime((u64 *)b);
	case 96: { /* gettimeofday */
		u64 ns = kvm_now_ns();
		if (a) {
			((u64 *)a)[0] = ns / 1000000000;
			((u64 *)a)[1] = ns % 1000000000 / 1000;
		}
		return 0;
	}
	case 201: /* time */
		return (long)(kvm_now_ns() / 1000000000);
	case 318: return sys_getrandom((u8 *)a, (u64)b);
	case 63: return sys_uname((char *)a);
	case 79: /* getcwd */
		if ((u64)b < 2)
			return E(EINVAL);
		((char *)a)[0] = '/', ((char *)a)[1] = 0;
		return 2;
	case 72: /* fcntl */
		return 0;
	default:
		return unimplemented(nr);
	}
}

/*
 * syscall entry: %rcx = user %rip, %r11 = user %rflags, %rax = number, arguments in %rdi, %rsi,
 * %rdx, %r10, %r8, %r9. Every register but %rax, %rcx and %r11 is preserved, as on Linux. The
 * return is an iretq, not sysretq: KVM's instruction emulator, which runs CPL0 code on PVM hosts,
 * has no SYSRET.
 * Then the CPL0 entry from the VMM: a kernel stack, setup, and iretq to `_start` at CPL3.
 */
__asm__(".text\n"
	".globl ukplat_kvm_syscall_entry\n"
	"ukplat_kvm_syscall_entry:\n"
	"	mov %rsp, ukplat_kvm_user_rsp\n"
	"	mov $ukplat_kvm_kstack+16384, %rsp\n"
	"	push %rcx\n"
	"	push %r11\n"
	"	push %rdi\n"
	"	push %rsi\n"
	"	push %rdx\n"
	"	push %r10\n"
	"	push %r8\n"
	"	push %r9\n"
	"	mov %r8, %r9\n"
	"	mov %r10, %r8\n"
	"	mov %rdx, %rcx\n"
	"	mov %rsi, %rdx\n"
	"	mov %rdi, %rsi\n"
	"	mov %rax, %rdi\n"
	"	call ukplat_kvm_syscall\n"
	"	pop %r9\n"
	"	pop %r8\n"
	"	pop %r10\n"
	"	pop %rdx\n"
	"	pop %rsi\n"
	"	pop %rdi\n"
	"	pop %r11\n"
	"	pop %rcx\n"
	"	pushq $0x23\n"
	"	pushq ukplat_kvm_user_rsp\n"
	"	push %r11\n"
	"	pushq $0x2b\n"
	"	push %rcx\n"
	"	iretq\n"
	".globl ukplat_kvm_start\n"
	"ukplat_kvm_start:\n"
	"	mov $ukplat_kvm_kstack+16384, %rsp\n"
	"	mov %rsi, %rdi\n"
	"	call ukplat_kvm_setup\n"
	"	mov $0x23, %ecx\n"
	"	mov %ecx, %ds\n"
	"	mov %ecx, %es\n"
	"	pushq $0x23\n"
	"	push %rax\n"
	"	pushq $0x2\n"
	"	pushq $0x2b\n"
	"	lea ukplat_kvm_user_entry(%rip), %rcx\n"
	"	push %rcx\n"
	"	iretq\n"
	"ukplat_kvm_user_entry:\n"
	"	mov %rsp, %rbx\n"
	"	and $-16, %rsp\n"
	"	call ukplat_kvm_user_init\n"
	"	mov %rbx, %rsp\n"
	"	jmp ukplat_linux_entry\n");
