// SPDX-License-Identifier: MIT
/*
 * Storage helpers of the io and disk-fill faults: io.max lines, MAJ:MIN,
 * whole-disk resolution on a fake sysfs, mountinfo lookups, device-less
 * filesystems, fill sizes, and worker report lines over a pipe.
 */
#include <duress/core/cgroup.h>
#include <duress/faults/fault_disk_fill.h>
#include <duress/faults/fault_io.h>
#include <duress/faults/workers.h>
#include <duress/targets/fsinfo.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"

#define MiB (1024ULL * 1024)

/* ---- io.max ---- */

static void test_io_max_format(void **state)
{
	struct io_limits l = { 0 };
	char buf[128];

	(void)state;
	l.wbps = MiB;
	assert_int_equal(io_max_format(254, 0, &l, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "254:0 wbps=1048576");

	l = (struct io_limits){ .rbps = 2 * MiB, .wbps = MiB, .riops = 100, .wiops = 50 };
	assert_int_equal(io_max_format(8, 16, &l, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "8:16 rbps=2097152 wbps=1048576 riops=100 wiops=50");

	/* kernel order whatever was given; max lifts a limit */
	l = (struct io_limits){ .wiops = 7, .rbps = CG_MAX };
	assert_int_equal(io_max_format(259, 3, &l, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "259:3 rbps=max wiops=7");
}

static void test_io_max_format_errors(void **state)
{
	struct io_limits none = { 0 }, l = { .wbps = MiB };
	char small[12];

	(void)state;
	errno = 0;
	assert_int_equal(io_max_format(8, 0, &none, small, sizeof(small)), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(io_max_format(8, 0, &l, small, sizeof(small)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static const char io_max_text[] = "8:0 rbps=max wbps=max riops=5000 wiops=max\n"
				  "254:0 rbps=1048576 wbps=max riops=max wiops=max\n"
				  "18:0 rbps=max wbps=2 riops=max wiops=max\n";

static void test_io_max_find(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(io_max_find(io_max_text, 254, 0, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "254:0 rbps=1048576 wbps=max riops=max wiops=max");
	assert_int_equal(io_max_find(io_max_text, 8, 0, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "8:0 rbps=max wbps=max riops=5000 wiops=max");
	assert_int_equal(io_max_find(io_max_text, 18, 0, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "18:0 rbps=max wbps=2 riops=max wiops=max");
	/* "8:0" must not match 8:01x or 18:0; a missing device gets the all-max line */
	assert_int_equal(io_max_find(io_max_text, 8, 16, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "8:16 rbps=max wbps=max riops=max wiops=max");
	assert_int_equal(io_max_find("", 254, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "254:0 rbps=max wbps=max riops=max wiops=max");
	/* blanks around, no trailing newline */
	assert_int_equal(io_max_find("  7:0 rbps=max wbps=max riops=1 wiops=max  ", 7, 0, buf,
				     sizeof(buf)),
			 1);
	assert_string_equal(buf, "7:0 rbps=max wbps=max riops=1 wiops=max");
	assert_int_equal(io_max_find("8:00 wbps=1\n", 8, 0, buf, sizeof(buf)), 1);
	assert_int_equal(io_max_find("8:0x wbps=1\n", 8, 0, buf, sizeof(buf)), 0);
}

static void test_io_max_find_small(void **state)
{
	char small[16];

	(void)state;
	errno = 0;
	assert_int_equal(io_max_find(io_max_text, 254, 0, small, sizeof(small)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(io_max_find("", 254, 0, small, sizeof(small)), -1);
}

static void test_majmin(void **state)
{
	unsigned int ma = 1, mi = 1;

	(void)state;
	assert_int_equal(fs_parse_majmin("8:0", &ma, &mi), 0);
	assert_int_equal(ma, 8);
	assert_int_equal(mi, 0);
	assert_int_equal(fs_parse_majmin("259:1048575", &ma, &mi), 0);
	assert_int_equal(ma, 259);
	assert_int_equal(mi, 1048575);
	ma = mi = 42;
	assert_int_equal(fs_parse_majmin("8", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin("8:", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin(":0", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin("8:0x", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin("a:b", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin("-1:0", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin(" 8:0", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin("8:0 ", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin("99999999999:0", &ma, &mi), -1);
	assert_int_equal(fs_parse_majmin("", &ma, &mi), -1);
	assert_int_equal(ma, 42); /* untouched on failure */
	assert_int_equal(mi, 42);
}

/* ---- a fake sysfs ---- */

struct fixture {
	char dir[PATH_MAX];
	char sysfs[PATH_MAX + 8];
};

static void link_dev(const char *sysfs, const char *majmin, const char *target)
{
	char path[2 * PATH_MAX];

	snprintf(path, sizeof(path), "%s/dev", sysfs);
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/dev/block", sysfs);
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/dev/block/%s", sysfs, majmin);
	assert_int_equal(symlink(target, path), 0);
}

static int setup_sysfs(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/duress-test-storage.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->sysfs, sizeof(fx->sysfs), "%s/sys", fx->dir);
	assert_int_equal(mkdir(fx->sysfs, 0755), 0);
	/* virtio disk with a partition */
	fx_put(fx->sysfs, "devices/pci0000:00/virtio1/block/vda/dev", "254:0\n");
	fx_put(fx->sysfs, "devices/pci0000:00/virtio1/block/vda/vda1/dev", "254:1\n");
	fx_put(fx->sysfs, "devices/pci0000:00/virtio1/block/vda/vda1/partition", "1\n");
	/* nvme: partitions on the extended major */
	fx_put(fx->sysfs, "devices/pci0000:00/nvme/nvme0/nvme0n1/dev", "259:0\n");
	fx_put(fx->sysfs, "devices/pci0000:00/nvme/nvme0/nvme0n1/nvme0n1p2/dev", "259:2\n");
	fx_put(fx->sysfs, "devices/pci0000:00/nvme/nvme0/nvme0n1/nvme0n1p2/partition", "2\n");
	/* a loop device: a whole disk */
	fx_put(fx->sysfs, "devices/virtual/block/loop0/dev", "7:0\n");
	/* a broken one: dev holds garbage */
	fx_put(fx->sysfs, "devices/virtual/block/bad0/dev", "garbage\n");
	link_dev(fx->sysfs, "254:0", "../../devices/pci0000:00/virtio1/block/vda");
	link_dev(fx->sysfs, "254:1", "../../devices/pci0000:00/virtio1/block/vda/vda1");
	link_dev(fx->sysfs, "259:0", "../../devices/pci0000:00/nvme/nvme0/nvme0n1");
	link_dev(fx->sysfs, "259:2", "../../devices/pci0000:00/nvme/nvme0/nvme0n1/nvme0n1p2");
	link_dev(fx->sysfs, "7:0", "../../devices/virtual/block/loop0");
	link_dev(fx->sysfs, "250:0", "../../devices/virtual/block/bad0");
	*state = fx;
	return 0;
}

static int teardown_sysfs(void **state)
{
	struct fixture *fx = *state;

	fx_rm_tree(fx->dir);
	free(fx);
	return 0;
}

static void test_whole_disk(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	struct fs_disk d;

	assert_int_equal(fs_whole_disk(fx->sysfs, 254, 0, &d, &err), 0);
	assert_int_equal(d.major, 254);
	assert_int_equal(d.minor, 0);
	assert_false(d.is_partition);
	assert_string_equal(d.name, "vda");

	assert_int_equal(fs_whole_disk(fx->sysfs, 254, 1, &d, &err), 0);
	assert_int_equal(d.major, 254);
	assert_int_equal(d.minor, 0);
	assert_int_equal(d.part_major, 254);
	assert_int_equal(d.part_minor, 1);
	assert_true(d.is_partition);
	assert_string_equal(d.name, "vda");

	assert_int_equal(fs_whole_disk(fx->sysfs, 259, 2, &d, &err), 0);
	assert_int_equal(d.major, 259);
	assert_int_equal(d.minor, 0);
	assert_true(d.is_partition);
	assert_string_equal(d.name, "nvme0n1");

	assert_int_equal(fs_whole_disk(fx->sysfs, 7, 0, &d, &err), 0);
	assert_int_equal(d.major, 7);
	assert_false(d.is_partition);
	assert_string_equal(d.name, "loop0");
}

static void test_whole_disk_errors(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	struct fs_disk d = { .major = 77 };

	assert_int_equal(fs_whole_disk(fx->sysfs, 8, 99, &d, &err), -1);
	assert_int_equal(err.errnum, ENODEV);
	assert_non_null(strstr(err.msg, "no block device 8:99"));
	assert_int_equal(d.major, 77); /* untouched */
	memset(&err, 0, sizeof(err));
	assert_int_equal(fs_whole_disk(fx->sysfs, 250, 0, &d, &err), -1);
	assert_non_null(strstr(err.msg, "garbage"));
}

static const char mountinfo[] =
	"22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
	"23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"30 22 0:25 / /dev/shm rw,nosuid,nodev shared:4 master:2 - tmpfs tmpfs rw,size=65536k\n"
	"40 22 0:40 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay "
	"rw,lowerdir=/l1:/l2,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/w\n"
	"41 22 0:41 / /mnt/with\\040space rw - 9p hostroot rw,trans=virtio\n"
	"42 22 259:2 /data /srv/data rw - xfs /dev/nvme0n1p2 rw\n"
	"malformed line\n";

static void test_mountinfo(void **state)
{
	struct fs_mount me;

	(void)state;
	assert_int_equal(fs_mountinfo_find(mountinfo, 254, 1, &me), 0);
	assert_string_equal(me.mountpoint, "/");
	assert_string_equal(me.fstype, "ext4");
	assert_string_equal(me.source, "/dev/vda1");
	assert_string_equal(me.upperdir, "");

	assert_int_equal(fs_mountinfo_find(mountinfo, 0, 25, &me), 0);
	assert_string_equal(me.mountpoint, "/dev/shm");
	assert_string_equal(me.fstype, "tmpfs");

	assert_int_equal(fs_mountinfo_find(mountinfo, 0, 40, &me), 0);
	assert_string_equal(me.fstype, "overlay");
	assert_string_equal(me.upperdir, "/var/lib/docker/overlay2/abc/diff");

	assert_int_equal(fs_mountinfo_find(mountinfo, 0, 41, &me), 0);
	assert_string_equal(me.mountpoint, "/mnt/with space");
	assert_string_equal(me.fstype, "9p");
	assert_string_equal(me.source, "hostroot");

	assert_int_equal(fs_mountinfo_find(mountinfo, 259, 2, &me), 0);
	assert_string_equal(me.mountpoint, "/srv/data");

	assert_int_equal(fs_mountinfo_find(mountinfo, 0, 99, &me), -1);
	assert_int_equal(fs_mountinfo_find("", 8, 1, &me), -1);
}

static void test_disk_of_dev(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	struct fs_disk d;

	/* a partition's filesystem: its whole disk */
	assert_int_equal(fs_disk_of_dev(fx->sysfs, mountinfo, makedev(254, 1), "/x", &d, &err), 0);
	assert_int_equal(d.major, 254);
	assert_int_equal(d.minor, 0);
	assert_true(d.is_partition);

	/* device-less filesystems: a clear error naming the type and --device */
	assert_int_equal(
		fs_disk_of_dev(fx->sysfs, mountinfo, makedev(0, 25), "/dev/shm/x", &d, &err), -1);
	assert_int_equal(err.errnum, ENODEV);
	assert_non_null(strstr(err.msg, "/dev/shm/x"));
	assert_non_null(strstr(err.msg, "tmpfs filesystem"));
	assert_non_null(strstr(err.msg, "--device"));
	assert_null(strstr(err.msg, "No such device"));

	memset(&err, 0, sizeof(err));
	assert_int_equal(fs_disk_of_dev(fx->sysfs, mountinfo, makedev(0, 40), "/", &d, &err), -1);
	assert_non_null(strstr(err.msg, "overlay filesystem"));
	assert_non_null(strstr(err.msg, "/var/lib/docker/overlay2/abc/diff"));

	memset(&err, 0, sizeof(err));
	assert_int_equal(fs_disk_of_dev(fx->sysfs, mountinfo, makedev(0, 41), "/", &d, &err), -1);
	assert_non_null(strstr(err.msg, "9p filesystem"));

	memset(&err, 0, sizeof(err));
	assert_int_equal(fs_disk_of_dev(fx->sysfs, mountinfo, makedev(0, 99), "/y", &d, &err), -1);
	assert_int_equal(err.errnum, ENODEV);
	assert_non_null(strstr(err.msg, "no block device"));

	/* a real device number sysfs does not know */
	memset(&err, 0, sizeof(err));
	assert_int_equal(fs_disk_of_dev(fx->sysfs, mountinfo, makedev(8, 3), "/z", &d, &err), -1);
	assert_non_null(strstr(err.msg, "/z"));
	assert_non_null(strstr(err.msg, "8:3"));
}

/* ---- fills ---- */

static const struct fs_space space1g = {
	.total = 1000 * MiB,
	.free = 950 * MiB,
	.avail = 900 * MiB,
	.block = 4096,
};

static void test_fill_needed(void **state)
{
	struct fill_goal g = { .mode = FILL_LEAVE, .bytes = 16 * MiB };

	(void)state;
	assert_int_equal(fill_needed(&g, &space1g, 0), (int64_t)(884 * MiB));
	g.bytes = 0;
	assert_int_equal(fill_needed(&g, &space1g, 0), (int64_t)(900 * MiB));
	g.bytes = 1000 * MiB; /* more than is free: nothing to fill */
	assert_true(fill_needed(&g, &space1g, 0) < 0);

	g = (struct fill_goal){ .mode = FILL_SIZE, .bytes = 100 * MiB };
	assert_int_equal(fill_needed(&g, &space1g, 0), (int64_t)(100 * MiB));
	assert_int_equal(fill_needed(&g, &space1g, 60 * MiB), (int64_t)(40 * MiB));
	assert_int_equal(fill_needed(&g, &space1g, 110 * MiB), -(int64_t)(10 * MiB));

	/* df: in use 50 MiB of (50 + 900): 50% is 475 MiB in use, 425 MiB to fill */
	g = (struct fill_goal){ .mode = FILL_PERCENT, .pct = 50 };
	assert_int_equal(fill_needed(&g, &space1g, 0), (int64_t)(425 * MiB));
	g.pct = 100;
	assert_int_equal(fill_needed(&g, &space1g, 0), (int64_t)(900 * MiB));
	g.pct = 5; /* already 5.3% in use */
	assert_true(fill_needed(&g, &space1g, 0) < 0);
}

static void test_fill_percent_rounds_to_blocks(void **state)
{
	/* 3 of 7 blocks in use (df: in use + avail = 7 blocks) */
	struct fs_space s = {
		.total = 8 * 4096, .free = 5 * 4096, .avail = 4 * 4096, .block = 4096
	};
	struct fill_goal g = { .mode = FILL_PERCENT, .pct = 60 };
	int64_t need;
	uint64_t used;

	(void)state;
	need = fill_needed(&g, &s, 0);
	assert_int_equal(need % 4096, 0);
	/* 60% of 7 blocks is 4.2: 4 blocks, so df rounds 57.1% up to 58%, never above 60 */
	assert_int_equal(need, 4096);
	used = 3 * 4096 + (uint64_t)need;
	assert_true(used * 100 <= 60 * 7 * 4096);
}

static void test_fill_guard(void **state)
{
	(void)state;
	assert_int_equal(fill_avail_after(&space1g, 100 * MiB), 800 * MiB);
	assert_int_equal(fill_avail_after(&space1g, 2000 * MiB), 0);
	/* 1% of 1000 MiB is 10 MiB */
	assert_false(fill_leaves_too_little(&space1g, 890 * MiB, 1.0));
	assert_true(fill_leaves_too_little(&space1g, 890 * MiB + 1, 1.0));
	assert_false(fill_leaves_too_little(&space1g, 0, 1.0));
}

/* ---- worker reports ---- */

static void test_wmsg(void **state)
{
	struct wmsg m;
	char line[64];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	wmsg_init(&m, p[0]);
	assert_int_equal(wmsg_recv(&m, 0, line, sizeof(line)), 0); /* nothing yet */
	wmsg_send(p[1], "open %s", "an unnamed file");
	wmsg_send(p[1], "filled %d fallocate", 42);
	assert_int_equal(write(p[1], "partial", 7), 7);
	assert_int_equal(wmsg_recv(&m, 1000, line, sizeof(line)), 1);
	assert_string_equal(line, "open an unnamed file");
	assert_int_equal(wmsg_recv(&m, 1000, line, sizeof(line)), 1);
	assert_string_equal(line, "filled 42 fallocate");
	assert_int_equal(wmsg_recv(&m, 50, line, sizeof(line)), 0); /* no newline yet */
	close(p[1]);
	assert_int_equal(wmsg_recv(&m, 1000, line, sizeof(line)), 1);
	assert_string_equal(line, "partial");
	assert_int_equal(wmsg_recv(&m, 1000, line, sizeof(line)), -1);
	close(p[0]);
}

/* ---- paths ---- */

static void test_open_in_root(void **state)
{
	struct fixture *fx = *state;
	struct duress_err err = { 0 };
	char path[PATH_MAX + 32], view[64];
	int fd;

	fd = fs_open_in_root(0, fx->sysfs, O_RDONLY | O_DIRECTORY, &err);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/nope", fx->dir);
	assert_int_equal(fs_open_in_root(0, path, O_RDONLY | O_DIRECTORY, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	assert_non_null(strstr(err.msg, path));
	/* a process's root: our own, seen through /proc/self's pid */
	fd = fs_open_in_root(getpid(), fx->sysfs, O_RDONLY | O_DIRECTORY, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_string_equal(fs_root_view(0, view, sizeof(view)), "/");
	assert_string_equal(fs_root_view(42, view, sizeof(view)), "/proc/42/root");
}

static void test_fs_type_name(void **state)
{
	(void)state;
	assert_string_equal(fs_type_name(TMPFS_MAGIC), "tmpfs");
	assert_string_equal(fs_type_name(EXT4_SUPER_MAGIC), "ext4");
	assert_string_equal(fs_type_name(OVERLAYFS_SUPER_MAGIC), "overlay");
	assert_string_equal(fs_type_name((long)(int)BTRFS_SUPER_MAGIC), "btrfs");
	assert_null(fs_type_name(0x12345678));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_max_format),
		cmocka_unit_test(test_io_max_format_errors),
		cmocka_unit_test(test_io_max_find),
		cmocka_unit_test(test_io_max_find_small),
		cmocka_unit_test(test_majmin),
		cmocka_unit_test_setup_teardown(test_whole_disk, setup_sysfs, teardown_sysfs),
		cmocka_unit_test_setup_teardown(test_whole_disk_errors, setup_sysfs,
						teardown_sysfs),
		cmocka_unit_test(test_mountinfo),
		cmocka_unit_test_setup_teardown(test_disk_of_dev, setup_sysfs, teardown_sysfs),
		cmocka_unit_test(test_fill_needed),
		cmocka_unit_test(test_fill_percent_rounds_to_blocks),
		cmocka_unit_test(test_fill_guard),
		cmocka_unit_test(test_wmsg),
		cmocka_unit_test_setup_teardown(test_open_in_root, setup_sysfs, teardown_sysfs),
		cmocka_unit_test(test_fs_type_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
