/* zlib-perf: deflates and inflates a generated text at three levels, checks CRC-32 and Adler-32. */
#include <string.h>
#include <zlib.h>
#include "ukapp.h"
const char app_name[] = "zlib-perf";
static unsigned char text[32768], packed[40000], back[32768];

unsigned long app_main(const char **name)
{
	*name = app_name;
	unsigned long h = 0;
	for (unsigned i = 0; i < sizeof(text); i++)
		text[i] = (unsigned char)("unikernel library pages "[i % 25] + (i / 997) % 3);
	for (int level = 1; level <= 9; level += 4) {
		uLongf n = sizeof(packed), m = sizeof(back);
		compress2(packed, &n, text, sizeof(text), level);
		uncompress(back, &m, packed, n);
		h = app_digest(h, &n, sizeof(n));
		h ^= crc32(0, back, (uInt)m) + adler32(1, back, (uInt)m) + (unsigned long)memcmp(text, back, sizeof(text));
	}
	return h;
}
