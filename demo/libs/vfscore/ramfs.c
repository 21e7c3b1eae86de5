/*
 * The vfs library's hand-written core (modelled on Unikraft's vfscore over ramfs): a flat table of
 * named in-memory files whose contents live in the allocator's heap.
 */
#include "uk.h"

#define VFS_MAX_FILES 16
#define VFS_NAME_MAX 32

struct vfs_file {
	char name[VFS_NAME_MAX];
	u8 *data;
	u64 len;
};

static struct vfs_file vfs_files[VFS_MAX_FILES];
static int vfs_nfiles;

static struct vfs_file *vfs_lookup(const char *name, int create)
{
	u64 n = strlen(name);
	int i;
	if (n >= VFS_NAME_MAX)
		return 0;
	for (i = 0; i < vfs_nfiles; i++)
		if (memcmp(vfs_files[i].name, name, n + 1) == 0)
			return &vfs_files[i];
	if (!create || vfs_nfiles == VFS_MAX_FILES)
		return 0;
	memcpy(vfs_files[vfs_nfiles].name, name, n + 1);
	vfs_files[vfs_nfiles].data = 0;
	vfs_files[vfs_nfiles].len = 0;
	return &vfs_files[vfs_nfiles++];
}

int vfs_write(const char *name, const void *buf, u64 len)
{
	struct vfs_file *f = vfs_lookup(name, 1);
	if (!f)
		return -1;
	f->data = uk_malloc(len);
	if (!f->data)
		return -1;
	memcpy(f->data, buf, len);
	f->len = len;
	return 0;
}

long vfs_read(const char *name, void *buf, u64 len)
{
	struct vfs_file *f = vfs_lookup(name, 0);
	if (!f)
		return -1;
	if (len > f->len)
		len = f->len;
	memcpy(buf, f->data, len);
	return (long)len;
}
