
unsigned long app_main(void)
{
	unsigned long h = 0;
	for (int r = 0; r < 100; r++)
		h ^= dns_once() + (unsigned long)r;
	return h;
}
