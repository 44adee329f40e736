// SPDX-License-Identifier: MIT
/*
 * io: throttle the target's disk I/O with io.max (--rbps, --wbps, --riops,
 * --wiops on one whole disk), and/or run I/O stress workers inside the
 * target (--workers N --mode ... --block ... [--direct]) on scratch files
 * that have no name, so that they never outlive their worker.
 */
#include <duress/targets/cgview.h>
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/core/parse.h>
#include <duress/faults/fault_io.h>
#include <duress/faults/workers.h>
#include <duress/targets/fsinfo.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- io.max ---- */

static int append(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *off) {
		errno = ENAMETOOLONG;
		return -1;
	}
	*off += n;
	return 0;
}

static int append_limit(char *buf, size_t len, size_t *off, const char *key, uint64_t v)
{
	if (v == IO_LIMIT_KEEP)
		return 0;
	if (v == CG_MAX)
		return append(buf, len, off, " %s=max", key);
	return append(buf, len, off, " %s=%llu", key, (unsigned long long)v);
}

int io_max_format(unsigned int major, unsigned int minor, const struct io_limits *l, char *buf,
		  size_t len)
{
	size_t off = 0, head;

	if (append(buf, len, &off, "%u:%u", major, minor) < 0)
		return -1;
	head = off;
	if (append_limit(buf, len, &off, "rbps", l->rbps) < 0 ||
	    append_limit(buf, len, &off, "wbps", l->wbps) < 0 ||
	    append_limit(buf, len, &off, "riops", l->riops) < 0 ||
	    append_limit(buf, len, &off, "wiops", l->wiops) < 0)
		return -1;
	if (off == head) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int io_max_find(const char *text, unsigned int major, unsigned int minor, char *buf, size_t len)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		unsigned int ma, mi;
		int off = 0;

		while (ll && isspace((unsigned char)*line)) {
			line++;
			ll--;
		}
		while (ll && isspace((unsigned char)line[ll - 1]))
			ll--;
		if (ll && sscanf(line, "%u:%u%n", &ma, &mi, &off) == 2 && ma == major &&
		    mi == minor && ((size_t)off == ll || isspace((unsigned char)line[off]))) {
			if (ll >= len) {
				errno = ENAMETOOLONG;
				return -1;
			}
			memcpy(buf, line, ll);
			buf[ll] = '\0';
			return 1;
		}
		line = nl ? nl + 1 : NULL;
	}
	if ((size_t)snprintf(buf, len, "%u:%u rbps=max wbps=max riops=max wiops=max", major,
			     minor) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

#define IO_WORKERS_MAX 64
#define IO_DEFAULT_FILE_SIZE (64ULL << 20)
#define IO_DEFAULT_BLOCK_SEQ (64ULL << 10)
#define IO_DEFAULT_BLOCK_RAND (4ULL << 10)
#define IO_READY_TIMEOUT_MS 120000
#define IO_ALIGN 4096

enum io_mode { IO_READ, IO_WRITE, IO_RANDREAD, IO_RANDWRITE };

static const char *const io_modes[] = { "read", "write", "randread", "randwrite", NULL };

static const struct fault_opt io_opts[] = {
	{ .name = "device",
	  .type = FOPT_STRING,
	  .metavar = "PATH|MAJ:MIN",
	  .help = "disk for io.max: a block device, a file on the disk, or MAJ:MIN (default: "
		  "the disk under the workers' --path, else under the target's root)" },
	{ .name = "rbps",
	  .type = FOPT_SIZE,
	  .metavar = "SIZE",
	  .min = 1,
	  .help = "limit reads to SIZE bytes per second (io.max rbps)" },
	{ .name = "wbps",
	  .type = FOPT_SIZE,
	  .metavar = "SIZE",
	  .min = 1,
	  .help = "limit writes to SIZE bytes per second (io.max wbps)" },
	{ .name = "riops",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .help = "limit reads to N operations per second (io.max riops)" },
	{ .name = "wiops",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .help = "limit writes to N operations per second (io.max wiops)" },
	{ .name = "workers",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .max = IO_WORKERS_MAX,
	  .help = "run N I/O stress worker processes inside the target" },
	{ .name = "mode",
	  .type = FOPT_ENUM,
	  .metavar = "MODE",
	  .choices = io_modes,
	  .help = "workers: read, write, randread or randwrite (default write)" },
	{ .name = "block",
	  .type = FOPT_SIZE,
	  .metavar = "SIZE",
	  .min = 512,
	  .max = 64 << 20,
	  .help = "workers: bytes per operation (default 64K, 4K for rand modes)" },
	{ .name = "direct",
	  .type = FOPT_FLAG,
	  .help = "workers: O_DIRECT, bypassing the page cache" },
	{ .name = "path",
	  .type = FOPT_STRING,
	  .metavar = "PATH",
	  .help = "workers: directory (or new file name) for the scratch files, in the "
		  "target's view (default /var/tmp, else /tmp)" },
	{ .name = "file-size",
	  .type = FOPT_SIZE,
	  .metavar = "SIZE",
	  .min = 1 << 20,
	  .help = "workers: size of each worker's scratch file (default 64M)" },
};

/* What a worker needs; copied into the child by fork. */
struct io_job {
	int dirfd;		 /* directory of the scratch file */
	char name[NAME_MAX + 1]; /* a named file to create and unlink at once; "" = O_TMPFILE */
	int go_rd, go_wr;	 /* closed by the agent once io.max is written: start */
	int report_rd, report_wr;
	enum io_mode mode;
	bool direct;
	uint64_t block, file_size;
	unsigned int index;
};

struct io_worker {
	pid_t pid;
	struct wmsg msg;
	bool exited;
};

struct io_priv {
	bool limits; /* any of rbps/wbps/riops/wiops */
	struct io_limits lim;
	bool device_given;
	struct fs_disk disk;
	char line[128];	 /* io.max line to write */
	char orig[256];	 /* the device's original line */
	bool orig_found; /* the device had a line of its own */

	unsigned int nworkers;
	struct io_job job;
	char scratch[PATH_MAX]; /* where the scratch files go, for messages */
	char scratch_fs[64];
	char base[NAME_MAX + 1]; /* --path names a new file: its name ("" = O_TMPFILE) */
	struct io_worker workers[IO_WORKERS_MAX];
	char workers_dir[PATH_MAX];
	unsigned int exited;
	char exit_note[256];
};

static const char *mode_name(enum io_mode m)
{
	return io_modes[m];
}

static bool mode_reads(enum io_mode m)
{
	return m == IO_READ || m == IO_RANDREAD;
}

static bool mode_random(enum io_mode m)
{
	return m == IO_RANDREAD || m == IO_RANDWRITE;
}

/* ---- the worker (runs in the child) ---- */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static int scratch_open(struct io_job *j, char *desc, size_t len)
{
	int flags = O_RDWR | O_CLOEXEC | (j->direct ? O_DIRECT : 0);
	char name[NAME_MAX + 1];
	int fd;

	if (!j->name[0]) {
		fd = openat(j->dirfd, ".", O_TMPFILE | O_EXCL | flags, 0600);
		if (fd >= 0) {
			snprintf(desc, len, "an unnamed file (O_TMPFILE)");
			return fd;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return -1;
		snprintf(name, sizeof(name), ".duress-io-%d.tmp", (int)getpid());
	} else {
		snprintf(name, sizeof(name), "%s", j->name);
	}
	fd = openat(j->dirfd, name, O_CREAT | O_EXCL | flags, 0600);
	if (fd < 0)
		return -1;
	if (unlinkat(j->dirfd, name, 0) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	snprintf(desc, len, "%s (unlinked at once)", name);
	return fd;
}

static int io_fail(struct io_job *j, const char *what, int e)
{
	if (e == EINVAL && j->direct)
		wmsg_send(j->report_wr,
			  "error %s: %s (with --direct the filesystem must support O_DIRECT and "
			  "--block must be a multiple of the device's logical block size)",
			  what, strerror(e));
	else
		wmsg_send(j->report_wr, "error %s: %s", what, strerror(e));
	return 1;
}

/* Write the whole file once (read modes need data on the disk). */
static int prefill(struct io_job *j, int fd, char *buf)
{
	for (uint64_t off = 0; off + j->block <= j->file_size; off += j->block) {
		ssize_t w = pwrite(fd, buf, j->block, (off_t)off);

		if (w < 0 && errno == EINTR) {
			off -= j->block;
			continue;
		}
		if (w < 0)
			return io_fail(j, "write the scratch file", errno);
	}
	if (fdatasync(fd) < 0)
		return io_fail(j, "fdatasync the scratch file", errno);
	if (!j->direct)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return 0;
}

static int io_worker_main(void *arg)
{
	struct io_job *j = arg;
	uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)time(NULL);
	uint64_t nblocks, off = 0, ops = 0;
	void *mem = NULL;
	char desc[NAME_MAX + 64], c;
	int fd;

	close(j->report_rd);
	close(j->go_wr);
	fd = scratch_open(j, desc, sizeof(desc));
	if (fd < 0)
		return io_fail(j, "create the scratch file", errno);
	if (posix_memalign(&mem, IO_ALIGN, j->block) != 0)
		return io_fail(j, "allocate the I/O buffer", ENOMEM);
	/* data that does not compress or deduplicate */
	for (uint64_t i = 0; i + 8 <= j->block; i += 8) {
		uint64_t v = xorshift(&seed);

		memcpy((char *)mem + i, &v, 8);
	}
	nblocks = j->file_size / j->block;
	if (mode_reads(j->mode)) {
		if (prefill(j, fd, mem))
			return 1;
	} else if (fallocate(fd, 0, 0, (off_t)(nblocks * j->block)) < 0 && errno != EOPNOTSUPP) {
		return io_fail(j, "reserve the scratch file", errno);
	}
	wmsg_send(j->report_wr, "ready %s", desc);
	/* wait for the limits to be in force */
	while (read(j->go_rd, &c, 1) < 0 && errno == EINTR)
		;
	close(j->go_rd);
	for (;;) {
		ssize_t r;

		if (mode_random(j->mode))
			off = (xorshift(&seed) % nblocks) * j->block;
		if (mode_reads(j->mode))
			r = pread(fd, mem, j->block, (off_t)off);
		else
			r = pwrite(fd, mem, j->block, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return io_fail(j, mode_reads(j->mode) ? "read" : "write", errno);
		ops++;
		if (!mode_random(j->mode))
			off += j->block;
		if (ops % nblocks == 0 ||
		    (!mode_random(j->mode) && off + j->block > j->file_size)) {
			/* one pass over the file: push buffered writes out, drop cached pages */
			off = mode_random(j->mode) ? off : 0;
			if (!j->direct && !mode_reads(j->mode) && fdatasync(fd) < 0)
				return io_fail(j, "fdatasync", errno);
			if (!j->direct && mode_reads(j->mode))
				posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		}
	}
}

/* ---- validate ---- */

static int resolve_device(const char *text, struct fs_disk *disk, struct duress_err *err)
{
	unsigned int ma, mi;

	if (fs_parse_majmin(text, &ma, &mi) == 0) {
		if (fs_whole_disk("/sys", ma, mi, disk, err) < 0)
			goto usage;
		return 0;
	}
	if (strchr(text, ':') && text[0] != '/' && text[0] != '.')
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--device '%s': expected a path or MAJ:MIN (two decimal "
				       "numbers, e.g. 8:0)",
				       text);
	if (fs_disk_of_path(text, disk, err) < 0)
		goto usage;
	return 0;
usage:
	err->code = DURESS_EXIT_USAGE;
	return duress_err_wrap(err, "--device %s", text);
}

static const char *const worker_opts[] = { "mode", "block", "direct", "path", "file-size" };

static int io_validate(struct fault *f, struct duress_err *err)
{
	struct io_priv *p = f->priv;
	const struct fault_val *workers = fault_opt(f, "workers");
	const struct fault_val *mode = fault_opt(f, "mode");
	const struct fault_val *block = fault_opt(f, "block");
	const struct fault_val *fsize = fault_opt(f, "file-size");
	const struct fault_val *dev = fault_opt(f, "device");

	p->job.dirfd = p->job.go_rd = p->job.go_wr = -1;
	p->job.report_rd = p->job.report_wr = -1;
	p->lim.rbps = fault_opt(f, "rbps")->set ? fault_opt(f, "rbps")->u : IO_LIMIT_KEEP;
	p->lim.wbps = fault_opt(f, "wbps")->set ? fault_opt(f, "wbps")->u : IO_LIMIT_KEEP;
	p->lim.riops = fault_opt(f, "riops")->set ? fault_opt(f, "riops")->u : IO_LIMIT_KEEP;
	p->lim.wiops = fault_opt(f, "wiops")->set ? fault_opt(f, "wiops")->u : IO_LIMIT_KEEP;
	p->limits = p->lim.rbps || p->lim.wbps || p->lim.riops || p->lim.wiops;
	p->nworkers = workers->set ? (unsigned int)workers->u : 0;

	if (!p->nworkers)
		for (size_t i = 0; i < DURESS_ARRAY_SIZE(worker_opts); i++)
			if (fault_opt(f, worker_opts[i])->set)
				return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
						       "--%s: only with --workers N",
						       worker_opts[i]);
	if (!p->limits && !p->nworkers)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "io: nothing to do: give --rbps, --wbps, --riops or --wiops "
				       "(io.max limits), --workers N (I/O stress), or both");
	if (dev->set && !p->limits)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--device: only with --rbps, --wbps, --riops or --wiops");

	p->job.mode = mode->set ? (enum io_mode)mode->choice : IO_WRITE;
	p->job.direct = fault_opt(f, "direct")->set;
	p->job.block = block->set		  ? block->u
		       : mode_random(p->job.mode) ? IO_DEFAULT_BLOCK_RAND
						  : IO_DEFAULT_BLOCK_SEQ;
	p->job.file_size = fsize->set ? fsize->u : IO_DEFAULT_FILE_SIZE;
	if (p->job.direct && p->job.block % 512)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--block %llu: with --direct it must be a multiple of 512 "
				       "(the device's logical block size)",
				       (unsigned long long)p->job.block);
	if (p->job.file_size < p->job.block)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--file-size %llu: smaller than one --block (%llu)",
				       (unsigned long long)p->job.file_size,
				       (unsigned long long)p->job.block);
	p->job.file_size -= p->job.file_size % p->job.block;

	if (dev->set) {
		if (resolve_device(dev->s, &p->disk, err) < 0)
			return -1;
		p->device_given = true;
	}
	return 0;
}

/* ---- supported ---- */

static int io_supported(struct fault *f, struct duress_err *err)
{
	struct io_priv *p = f->priv;

	if (!p->limits)
		return 0;
	if (f->root && !cg_root_has(f->root, "io"))
		return cg_root_require(f->root, "io", err);
	if (!cg_exists(f->target->dir, "io.max"))
		return duress_err_setc(
			err, DURESS_EXIT_UNSUPPORTED, 0,
			"io: %s has no io.max: the io controller is not enabled for it "
			"(its parent's cgroup.subtree_control lacks +io)",
			f->target->dir);
	return 0;
}

/* ---- plan ---- */

/* Open the target's `path` as a directory; ENOTDIR and ENOENT are left to the caller. */
static int open_dir(struct fault *f, const char *path, struct duress_err *err)
{
	return fs_open_in_root(f->target->pid, path, O_RDONLY | O_DIRECTORY, err);
}

static int plan_scratch(struct fault *f, struct duress_err *err)
{
	struct io_priv *p = f->priv;
	const struct fault_val *path = fault_opt(f, "path");
	char view[64];
	struct statfs sfs;
	const char *fsname;
	int fd;

	fs_root_view(f->target->pid, view, sizeof(view));
	if (path->set) {
		struct duress_err e = { 0 };

		fd = open_dir(f, path->s, &e);
		if (fd < 0 && e.errnum == ENOTDIR) {
			struct stat st;
			cleanup_close int fd2 =
				fs_open_in_root(f->target->pid, path->s, O_PATH, err);

			if (fd2 >= 0 && fstat(fd2, &st) == 0 && !S_ISDIR(st.st_mode))
				return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
						       "--path %s: exists and is not a directory: "
						       "duress never writes into an existing file",
						       path->s);
		}
		if (fd < 0 && e.errnum == ENOENT) {
			char copy[PATH_MAX], copy2[PATH_MAX];
			const char *base;

			snprintf(copy, sizeof(copy), "%s", path->s);
			snprintf(copy2, sizeof(copy2), "%s", path->s);
			base = basename(copy2);
			fd = open_dir(f, dirname(copy), &e);
			if (fd >= 0)
				snprintf(p->base, sizeof(p->base), "%.240s", base);
		}
		if (fd < 0) {
			*err = e;
			err->code = DURESS_EXIT_USAGE;
			return duress_err_wrap(err, "--path");
		}
		snprintf(p->scratch, sizeof(p->scratch), "%s", path->s);
	} else {
		struct duress_err e = { 0 };

		fd = open_dir(f, "/var/tmp", &e);
		snprintf(p->scratch, sizeof(p->scratch), "/var/tmp");
		if (fd < 0) {
			fd = open_dir(f, "/tmp", &e);
			snprintf(p->scratch, sizeof(p->scratch), "/tmp");
		}
		if (fd < 0) {
			*err = e;
			err->code = DURESS_EXIT_UNSUPPORTED;
			return duress_err_wrap(err,
					       "io workers: no /var/tmp or /tmp in the "
					       "target's root (%s): give --path",
					       view);
		}
	}
	p->job.dirfd = fd;
	if (fstatfs(fd, &sfs) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "statfs %s", p->scratch);
	fsname = fs_type_name(sfs.f_type);
	if (fsname)
		snprintf(p->scratch_fs, sizeof(p->scratch_fs), "%s", fsname);
	else
		snprintf(p->scratch_fs, sizeof(p->scratch_fs), "0x%lx", (unsigned long)sfs.f_type);
	{
		uint64_t need = p->job.file_size * p->nworkers;
		uint64_t avail = (uint64_t)sfs.f_bavail * (uint64_t)sfs.f_frsize;
		char a[32], b[32];

		if (need > avail)
			return duress_err_setc(
				err, DURESS_EXIT_USAGE, 0,
				"--file-size: %u worker(s) need %s of scratch space, "
				"%s (%s) has %s free",
				p->nworkers, format_size(need, a, sizeof(a)), p->scratch,
				p->scratch_fs, format_size(avail, b, sizeof(b)));
	}
	return 0;
}

/* The disk under the workers' scratch directory, else under the target's root. */
static int plan_default_device(struct fault *f, struct duress_err *err)
{
	struct io_priv *p = f->priv;
	cleanup_free char *mountinfo = NULL;
	cleanup_close int rootfd = -1;
	char procdir[64], what[PATH_MAX + 80], view[64];
	pid_t pid = f->target->pid;
	struct stat st;
	int fd = p->job.dirfd;

	fs_root_view(pid, view, sizeof(view));
	if (fd < 0) {
		rootfd = fs_open_in_root(pid, "/", O_RDONLY | O_DIRECTORY, err);
		if (rootfd < 0)
			return -1;
		fd = rootfd;
		snprintf(what, sizeof(what), "the target's root (%s)", view);
	} else {
		snprintf(what, sizeof(what), "the scratch directory %.3000s (seen through %s)",
			 p->scratch, view);
	}
	if (fstat(fd, &st) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "stat %s", what);
	if (pid > 0)
		snprintf(procdir, sizeof(procdir), "/proc/%d", (int)pid);
	else
		snprintf(procdir, sizeof(procdir), "/proc/self");
	if (cg_read(procdir, "mountinfo", &mountinfo, err) < 0)
		return -1;
	if (fs_disk_of_dev("/sys", mountinfo, st.st_dev, what, &p->disk, err) < 0) {
		err->code = DURESS_EXIT_UNSUPPORTED;
		return -1;
	}
	return 0;
}

static int io_plan(struct fault *f, struct duress_err *err)
{
	struct io_priv *p = f->priv;
	const char *dir = f->target->dir;
	char view[64], sz[32], fs[32];

	fs_root_view(f->target->pid, view, sizeof(view));
	if (p->nworkers && plan_scratch(f, err) < 0)
		return -1;
	if (p->limits) {
		cleanup_free char *text = NULL;
		int found;

		if (!p->device_given && plan_default_device(f, err) < 0)
			return -1;
		if (cg_read(dir, "io.max", &text, err) < 0)
			return duress_err_wrap(err, "io: save io.max");
		found = io_max_find(text, p->disk.major, p->disk.minor, p->orig, sizeof(p->orig));
		if (found < 0)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENAMETOOLONG,
					       "io: %s/io.max: the line of %u:%u is too long", dir,
					       p->disk.major, p->disk.minor);
		p->orig_found = found == 1;
		if (io_max_format(p->disk.major, p->disk.minor, &p->lim, p->line, sizeof(p->line)) <
		    0)
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
					       "io: format the io.max line");
		if (p->disk.is_partition)
			fault_plan_add(
				f,
				"device: partition %u:%u is on disk %s (%u:%u): io.max takes "
				"the whole disk",
				p->disk.part_major, p->disk.part_minor, p->disk.name, p->disk.major,
				p->disk.minor);
		fault_plan_add(f, "write '%s' to %s/io.max (disk %s; now '%s'%s)", p->line, dir,
			       p->disk.name, p->orig, p->orig_found ? "" : ": no limits");
	}
	if (p->nworkers) {
		fault_plan_add(f,
			       "start %u I/O worker(s) 'duress-io' in %s/duress-io-%d: %s, %s "
			       "blocks%s, each on a %s scratch file in %s (%s, seen through %s) "
			       "that has no name (O_TMPFILE, or unlinked at once)",
			       p->nworkers, dir, (int)getpid(), mode_name(p->job.mode),
			       format_size(p->job.block, sz, sizeof(sz)),
			       p->job.direct ? ", O_DIRECT" : "",
			       format_size(p->job.file_size, fs, sizeof(fs)), p->scratch,
			       p->scratch_fs, view);
		if (mode_reads(p->job.mode))
			fault_plan_add(f, "the workers write their files once before the limits "
					  "start (reads need data on the disk)");
	}
	if (p->limits)
		fault_plan_add(f, "revert: write '%s' to %s/io.max", p->orig, dir);
	if (p->nworkers)
		fault_plan_add(f, "revert: kill the workers and remove their cgroup; their "
				  "scratch files go with them");
	return 0;
}

/* ---- apply ---- */

static int worker_exit_text(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		return snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
				strsignal(WTERMSIG(status)));
	return snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
}

static int start_workers(struct fault *f, struct duress_err *err)
{
	struct io_priv *p = f->priv;
	int go[2];

	if (workers_cgroup(f, false, p->workers_dir, sizeof(p->workers_dir), err) < 0)
		return -1;
	if (pipe2(go, O_CLOEXEC) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "io workers: pipe");
	p->job.go_rd = go[0];
	p->job.go_wr = go[1];
	for (unsigned int i = 0; i < p->nworkers; i++) {
		struct io_worker *w = &p->workers[i];

		p->job.index = i;
		if (p->base[0] && p->nworkers > 1)
			snprintf(p->job.name, sizeof(p->job.name), "%.240s.%u", p->base, i);
		else
			snprintf(p->job.name, sizeof(p->job.name), "%s", p->base);
		if (worker_spawn_reporting(p->workers_dir, "duress-io", 1000, io_worker_main,
					   &p->job, &p->job.report_rd, &p->job.report_wr, &w->msg,
					   &w->pid, err) < 0)
			return duress_err_wrap(err, "io worker %u", i);
	}
	return 0;
}

static int wait_ready(struct fault *f, struct duress_err *err)
{
	struct io_priv *p = f->priv;

	for (unsigned int i = 0; i < p->nworkers; i++) {
		struct io_worker *w = &p->workers[i];
		char line[1024];
		int r = wmsg_recv(&w->msg, IO_READY_TIMEOUT_MS, line, sizeof(line));

		if (r == 1 && !strncmp(line, "ready", 5))
			continue;
		if (r == 1 && !strncmp(line, "error ", 6))
			return duress_err_setc(err, DURESS_EXIT_FAILED, 0, "io worker %d on %s: %s",
					       (int)w->pid, p->scratch, line + 6);
		if (r == 0)
			return duress_err_setc(err, DURESS_EXIT_FAILED, ETIMEDOUT,
					       "io worker %d on %s: not ready after %d s",
					       (int)w->pid, p->scratch, IO_READY_TIMEOUT_MS / 1000);
		return duress_err_setc(err, DURESS_EXIT_FAILED, 0,
				       "io worker %d on %s: exited before it was ready",
				       (int)w->pid, p->scratch);
	}
	return 0;
}

static int io_apply(struct fault *f, struct duress_err *err)
{
	struct io_priv *p = f->priv;

	if (p->nworkers && (start_workers(f, err) < 0 || wait_ready(f, err) < 0))
		return -1;
	if (p->limits) {
		if (undo_record(f->undo, &undo_kind_cgroup_write, f->desc->name, f->target->dir,
				"io.max", p->orig, err) < 0)
			return -1;
		if (cg_write(f->target->dir, "io.max", p->line, err) < 0)
			return duress_err_wrap(err, "io: set the limits of disk %s", p->disk.name);
	}
	if (p->job.go_wr >= 0) {
		/* the workers start now, under the limits */
		close(p->job.go_wr);
		p->job.go_wr = -1;
	}
	return 0;
}

/* ---- tick, report, release ---- */

static int io_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct io_priv *p = f->priv;

	for (unsigned int i = 0; i < p->nworkers; i++) {
		struct io_worker *w = &p->workers[i];
		char line[1024], why[256];
		int status = 0;

		if (w->exited || w->pid <= 0 || worker_reap(w->pid, &status) != 1)
			continue;
		w->exited = true;
		p->exited++;
		why[0] = '\0';
		while (wmsg_recv(&w->msg, 0, line, sizeof(line)) == 1)
			if (!strncmp(line, "error ", 6))
				snprintf(why, sizeof(why), "%.250s", line + 6);
		if (!why[0])
			worker_exit_text(status, why, sizeof(why));
		snprintf(p->exit_note, sizeof(p->exit_note), "worker %d: %.200s", (int)w->pid, why);
		return duress_err_setc(err, DURESS_EXIT_FAILED, 0, "io worker %d stopped: %s",
				       (int)w->pid, why);
	}
	return 0;
}

static void io_report(struct fault *f, json_t *summary)
{
	struct io_priv *p = f->priv;

	if (p->limits) {
		char dev[96];

		snprintf(dev, sizeof(dev), "%s %u:%u", p->disk.name, p->disk.major, p->disk.minor);
		json_object_set_new(summary, "io_device", json_string(dev));
		json_object_set_new(summary, "io_max", json_string(p->line));
		json_object_set_new(summary, "io_max_before", json_string(p->orig));
	}
	if (p->nworkers) {
		json_object_set_new(summary, "io_workers", json_integer(p->nworkers));
		json_object_set_new(summary, "io_mode", json_string(mode_name(p->job.mode)));
		json_object_set_new(summary, "io_block", json_integer((json_int_t)p->job.block));
		json_object_set_new(summary, "io_direct", json_boolean(p->job.direct));
		json_object_set_new(summary, "io_scratch", json_string(p->scratch));
		if (p->exited)
			json_object_set_new(summary, "io_workers_stopped",
					    json_string(p->exit_note));
	}
}

static void io_release(struct fault *f)
{
	struct io_priv *p = f->priv;
	int *fds[] = { &p->job.dirfd, &p->job.go_rd, &p->job.go_wr, &p->job.report_rd,
		       &p->job.report_wr };

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(fds); i++) {
		if (*fds[i] > 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	for (unsigned int i = 0; i < p->nworkers; i++) {
		if (p->workers[i].msg.fd > 0)
			close(p->workers[i].msg.fd);
		p->workers[i].msg.fd = -1;
	}
}

const struct fault_desc fault_io = {
	.name = "io",
	.summary = "throttle the target's disk I/O (io.max) and/or run I/O stress workers in it",
	.opts = io_opts,
	.nopts = DURESS_ARRAY_SIZE(io_opts),
	.priv_size = sizeof(struct io_priv),
	.validate = io_validate,
	.supported = io_supported,
	.plan = io_plan,
	.apply = io_apply,
	.tick = io_tick,
	.report = io_report,
	.release = io_release,
};
