/*
 * The libc-like library's hand-written core (modelled on Unikraft's nolibc): memory and string
 * routines the compiler may call, and the number formatting the boot library prints with.
 */
#include "uk.h"

void *memcpy(void *dst, const void *src, u64 n)
{
	u8 *d = dst;
	const u8 *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memset(void *dst, int c, u64 n)
{
	u8 *d = dst;
	while (n--)
		*d++ = (u8)c;
	return dst;
}

int memcmp(const void *a, const void *b, u64 n)
{
	const u8 *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

u64 strlen(const char *s)
{
	const char *p = s;
	while (*p)
		p++;
	return (u64)(p - s);
}

static const char nolibc_hexdigits[] = "0123456789abcdef";

/* Sixteen hex digits of v at out; returns the position after them. */
char *uk_fmt_hex(char *out, u64 v)
{
	int i;
	for (i = 15; i >= 0; i--) {
		out[i] = nolibc_hexdigits[v & 15];
		v >>= 4;
	}
	return out + 16;
}

void uk_puts(const char *s)
{
	ukplat_write(s, strlen(s));
}
