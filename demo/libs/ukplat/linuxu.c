/*
 * Platform library, modelled on Unikraft's linuxu platform: the image is a static Linux executable,
 * its entry point is here, and console output and halting are raw system calls (write, exit_group).
 * The same image boots as a KVM unikernel under unimem-vmm: kvm.c serves those system calls there.
 */
#include "uk.h"

static long uk_syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

long ukplat_write(const char *buf, u64 len)
{
	u64 done = 0;
	while (done < len) {
		long n = uk_syscall3(1 /* write */, 1, (long)(buf + done), (long)(len - done));
		if (n <= 0)
			return -1;
		done += (u64)n;
	}
	return (long)done;
}

void ukplat_halt(int code)
{
	for (;;)
		uk_syscall3(231 /* exit_group */, code, 0, 0);
}

void ukboot_entry(void) __attribute__((noreturn));

/*
 * Entry. The low bits of %cs are the privilege level: 3 when Linux started the image as a process,
 * 0 when unimem-vmm booted it as a unikernel (kvm.c sets up the machine, then comes back to
 * ukplat_linux_entry at CPL3). From there on both are the same Linux process: clear the frame
 * pointer, align the stack as the ABI wants, hand over to ukboot.
 */
__asm__(".section .text.boot,\"ax\",@progbits\n"
	".globl _start\n"
	"_start:\n"
	"	mov %cs, %eax\n"
	"	test $3, %eax\n"
	"	jz ukplat_kvm_start\n"
	".globl ukplat_linux_entry\n"
	"ukplat_linux_entry:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call ukboot_entry\n"
	"	hlt\n"
	".previous\n");
