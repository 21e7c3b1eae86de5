/*
 * A FaaS word-count function: stores its input document in the vfs, reads it back, counts words,
 * and runs one counting task per paragraph on the cooperative scheduler.
 */
#include "uk.h"

static const char wordcount_doc[] =
	"unikernels are specialised single address space machine images\n"
	"each library is compiled once and linked into many images\n"
	"aligned libraries share pages across instances\n";

static u64 wordcount_count(u64 arg)
{
	return arg * 2654435761u;
}

u64 app_extra(u64 seed)
{
	char buf[sizeof(wordcount_doc)];
	long n, i;
	u64 words = 0;
	int in_word = 0;

	vfs_write("/doc.txt", wordcount_doc, sizeof(wordcount_doc) - 1);
	n = vfs_read("/doc.txt", buf, sizeof(buf));
	for (i = 0; i < n; i++) {
		int sp = buf[i] == ' ' || buf[i] == '\n';
		if (!sp && !in_word)
			words++;
		in_word = !sp;
		if (buf[i] == '\n')
			uk_sched_spawn(wordcount_count, (u64)i);
	}
	return (seed ^ words) + uk_sched_run();
}
