// SPDX-License-Identifier: MIT
/*
 * memory: cap the target's memory (memory.max, memory.high,
 * memory.swap.max) and/or run a memory hog inside it that makes a given
 * amount resident, at once or growing linearly (--ramp).  The hog is a
 * process of its own in <target>/duress-memory-<agent pid>, charged to the
 * target, with oom_score_adj 1000 so that the OOM killer takes it first; it
 * is restarted after a kill (with a backoff) unless --hog-once.
 *
 * Percentages are of the target's capacity before the fault
 * (target_memory_capacity(): its memory.max, the nearest limited
 * ancestor's, else the host's RAM).  See docs/faults/memory.md.
 */
#include <duress/core/cgroup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/faults/fault_memory.h>
#include <duress/faults/workers.h>
#include <duress/core/parse.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define HOG_NAME "duress-memhog"
#define HOG_OOM_SCORE_ADJ 1000
/* The hog populates in steps of this much, so that it reports progress. */
#define HOG_CHUNK (4ULL << 20)
/* While ramping, the hog looks at its clock this often. */
#define HOG_RAMP_STEP_NS 20000000ULL
/* Restart backoff after a kill: doubles from the first to the cap. */
#define HOG_BACKOFF_FIRST_US 100000ULL
#define HOG_BACKOFF_MAX_US 2000000ULL
/* A hog that lived this long before dying starts the backoff afresh. */
#define HOG_HEALTHY_US 10000000ULL
#define HUGE_ALIGN (2ULL << 20)

/* Where a hog failed (hog_shared.fail_step). */
enum hog_step {
	HOG_OK,
	HOG_MMAP,
	HOG_POPULATE,
};

/*
 * One page shared between the agent and its hogs (MAP_SHARED, made before
 * the fork): the current hog's progress.  Each hog resets it when it starts.
 */
struct hog_shared {
	_Atomic uint64_t resident; /* bytes made resident so far */
	_Atomic uint64_t full_ns;  /* CLOCK_MONOTONIC when all of it was resident, 0 = not yet */
	_Atomic int locked;	   /* 1 while mlock() holds it (no swapping out) */
	_Atomic int fail_step;	   /* enum hog_step */
	_Atomic int fail_errno;
};

/* What the hog process needs; it reads it from its copy of the agent. */
struct hog_arg {
	uint64_t bytes;		/* final size */
	uint64_t ramp_us;	/* 0: at once */
	uint64_t ramp_start_ns; /* CLOCK_MONOTONIC of apply: restarts resume the ramp */
	struct hog_shared *shared;
};

struct memory_priv {
	/* plan */
	uint64_t capacity;
	char capacity_src[PATH_MAX + 64];
	bool set_max, set_high, set_swap, hog;
	uint64_t max, high, swap_max; /* bytes to write */
	struct hog_arg arg;
	bool hog_once;

	/* apply and tick */
	char workers[PATH_MAX];
	struct hog_shared *shared;
	pid_t hog_pid;		/* 0: none running */
	uint64_t hog_start_us;	/* since apply, of the running hog */
	uint64_t hog_start_ns;	/* CLOCK_MONOTONIC, of the running hog */
	uint64_t restart_at_us; /* since apply */
	bool hog_done;		/* --hog-once and it ended */
	unsigned int streak;	/* kills in a row without a healthy run */

	/* report */
	unsigned int kills, exits, restarts;
	int last_signal, last_exit;
	uint64_t resident_peak;
	double time_to_full_s; /* of the first hog that got there, < 0 = none */
	char last_error[256];
};

static const struct fault_opt memory_opts[] = {
	{ .name = "max",
	  .type = FOPT_SIZE_PCT,
	  .metavar = "SIZE|PCT",
	  .min = 4096,
	  .help = "set memory.max (hard limit: reclaim, then OOM kill); PCT of the target's capacity" },
	{ .name = "high",
	  .type = FOPT_SIZE_PCT,
	  .metavar = "SIZE|PCT",
	  .min = 4096,
	  .help = "set memory.high (throttle and reclaim above it, no kill); PCT as for --max" },
	{ .name = "swap-max",
	  .type = FOPT_SIZE,
	  .metavar = "SIZE",
	  .help = "set memory.swap.max (0 = no swap for the target)" },
	{ .name = "hog",
	  .type = FOPT_SIZE_PCT,
	  .metavar = "SIZE|PCT",
	  .min = 4096,
	  .help = "run a hog in the target that keeps SIZE resident (oom_score_adj 1000)" },
	{ .name = "ramp",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "grow the hog linearly over DUR instead of at once" },
	{ .name = "hog-once",
	  .type = FOPT_FLAG,
	  .metavar = "",
	  .help = "do not restart the hog after it is killed (default: restart, with a backoff)" },
};

/* ---- pure computations (unit-tested in tests/unit/test_fault_memory.c) ---- */

/*
 * Resolve a --max/--high/--hog value against the target's capacity, rounded
 * down to whole pages (the kernel keeps memory.max in pages).  Less than one
 * page is a usage error naming the option.
 */
int memory_resolve(const struct size_spec *spec, uint64_t base, uint64_t page, const char *what,
		   uint64_t *out, struct duress_err *err)
{
	uint64_t v = size_spec_resolve(spec, base);
	char b1[32], b2[32];

	v -= v % page;
	if (v < page) {
		if (spec->is_pct)
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "%s: %g%% of %s is less than one page (%llu bytes)",
					       what, spec->pct, format_size(base, b1, sizeof(b1)),
					       (unsigned long long)page);
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "%s: %s is less than one page (%llu bytes)", what,
				       format_size(spec->bytes, b2, sizeof(b2)),
				       (unsigned long long)page);
	}
	*out = v;
	return 0;
}

/* How much of the hog should be resident elapsed_us into a ramp of ramp_us
 * (0: all at once), in whole pages; never more than total. */
uint64_t memory_ramp_bytes(uint64_t total, uint64_t elapsed_us, uint64_t ramp_us, uint64_t page)
{
	uint64_t v;

	if (!ramp_us || elapsed_us >= ramp_us)
		return total;
	v = (uint64_t)((long double)total * elapsed_us / ramp_us);
	v -= v % page;
	return v < total ? v : total;
}

/* Delay before restarting a hog killed `streak` times in a row (>= 1). */
uint64_t memory_backoff_us(unsigned int streak)
{
	uint64_t d = HOG_BACKOFF_FIRST_US;

	for (unsigned int i = 1; i < streak && d < HOG_BACKOFF_MAX_US; i++)
		d *= 2;
	return d < HOG_BACKOFF_MAX_US ? d : HOG_BACKOFF_MAX_US;
}

/* ---- the hog (runs in the worker process) ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
			       .tv_nsec = (long)(ns % 1000000000ULL) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int hog_fail(struct hog_shared *sh, enum hog_step step, int e)
{
	atomic_store(&sh->fail_errno, e);
	atomic_store(&sh->fail_step, step);
	return 1;
}

/*
 * Make [p, p + len) resident: MADV_POPULATE_WRITE (one call, no page
 * faults; Linux 5.14), else a write to every page (a read would map the
 * shared zero page).  Then lock it, so that it stays in RAM even when the
 * target may swap; locking is best effort (it needs CAP_IPC_LOCK or a
 * large enough RLIMIT_MEMLOCK).
 */
static int hog_populate(char *p, size_t len, size_t page, bool *no_madv, bool *no_lock,
			struct hog_shared *sh)
{
	if (!*no_madv) {
		int r;

		do
			r = madvise(p, len, MADV_POPULATE_WRITE);
		while (r < 0 && errno == EINTR);
		if (r < 0 && errno != EINVAL)
			return -1;
		if (r < 0)
			*no_madv = true;
	}
	if (*no_madv)
		for (size_t off = 0; off < len; off += page)
			((volatile char *)p)[off] = 1;
	if (!*no_lock) {
		if (mlock(p, len) == 0) {
			atomic_store(&sh->locked, 1);
		} else {
			*no_lock = true;
			atomic_store(&sh->locked, 0); /* not all of it, then */
		}
	}
	return 0;
}

static int hog_main(void *argp)
{
	const struct hog_arg *a = argp;
	struct hog_shared *sh = a->shared;
	long pg = sysconf(_SC_PAGESIZE);
	size_t page = pg > 0 ? (size_t)pg : 4096;
	size_t total = (size_t)a->bytes, have = 0;
	bool no_madv = false, no_lock = false;
	uintptr_t addr;
	char *mem;

	atomic_store(&sh->resident, 0);
	atomic_store(&sh->full_ns, 0);
	atomic_store(&sh->locked, 0);
	atomic_store(&sh->fail_errno, 0);
	atomic_store(&sh->fail_step, HOG_OK);

	if (total > SIZE_MAX - HUGE_ALIGN)
		return hog_fail(sh, HOG_MMAP, ENOMEM);
	/* Aligned to 2 MiB so that transparent huge pages can back all of it
	 * (fewer page faults); NORESERVE so that a hog larger than the
	 * overcommit heuristic allows still gets to the OOM killer. */
	mem = mmap(NULL, total + HUGE_ALIGN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return hog_fail(sh, HOG_MMAP, errno);
	addr = ((uintptr_t)mem + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1);
	mem = (char *)addr;
	madvise(mem, total, MADV_HUGEPAGE); /* a hint: EINVAL without THP */

	for (;;) {
		uint64_t now = mono_ns();
		uint64_t el = now > a->ramp_start_ns ? (now - a->ramp_start_ns) / 1000 : 0;
		size_t want = (size_t)memory_ramp_bytes(total, el, a->ramp_us, page);

		while (have < want) {
			size_t n = want - have < HOG_CHUNK ? want - have : HOG_CHUNK;

			if (hog_populate(mem + have, n, page, &no_madv, &no_lock, sh) < 0)
				return hog_fail(sh, HOG_POPULATE, errno);
			have += n;
			atomic_store(&sh->resident, have);
		}
		if (have >= total)
			break;
		sleep_ns(HOG_RAMP_STEP_NS);
	}
	atomic_store(&sh->full_ns, mono_ns());
	for (;;)
		pause(); /* until the agent removes the workers cgroup, or dies */
	return 0;
}

/* ---- the fault ---- */

static int memory_validate(struct fault *f, struct duress_err *err)
{
	struct memory_priv *p = f->priv;
	const struct fault_val *hog = fault_opt(f, "hog"), *ramp = fault_opt(f, "ramp");

	if (ramp->set && !hog->set)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--ramp: only applies with --hog");
	if (ramp->set && ramp->u == 0)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--ramp: must be longer than 0 (leave it out for at once)");
	if (fault_opt(f, "hog-once")->set && !hog->set)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--hog-once: only applies with --hog");
	if (!fault_opt(f, "max")->set && !fault_opt(f, "high")->set &&
	    !fault_opt(f, "swap-max")->set && !hog->set)
		return duress_err_setc(
			err, DURESS_EXIT_USAGE, 0,
			"memory: give at least one of --max, --high, --swap-max, --hog");
	p->hog_once = fault_opt(f, "hog-once")->set;
	return 0;
}

static int memory_supported(struct fault *f, struct duress_err *err)
{
	const char *dir = f->target->dir;
	bool limits = fault_opt(f, "max")->set || fault_opt(f, "high")->set;
	bool memcg = cg_exists(dir, "memory.max");

	if ((limits || fault_opt(f, "swap-max")->set) && !memcg)
		return duress_err_setc(
			err, DURESS_EXIT_UNSUPPORTED, 0, "memory: %s has no memory.max: %s", dir,
			!strcmp(f->target->rel, "/")
				? "the root cgroup cannot be limited"
				: "the memory controller is not enabled for it "
				  "(+memory in the parent's cgroup.subtree_control)");
	if (fault_opt(f, "swap-max")->set && !cg_exists(dir, "memory.swap.max"))
		return duress_err_setc(
			err, DURESS_EXIT_UNSUPPORTED, 0,
			"--swap-max: %s has no memory.swap.max: this kernel does not "
			"account swap per cgroup (CONFIG_MEMCG_SWAP off, or booted "
			"with swapaccount=0)",
			dir);
	return 0;
}

/* The current text of dir/file without its newline, "?" if unreadable. */
static void read_now(const char *dir, const char *file, char *buf, size_t len)
{
	struct duress_err e = { 0 };

	if (cg_read_buf(dir, file, buf, len, &e) < 0) {
		snprintf(buf, len, "?");
		return;
	}
	buf[strcspn(buf, "\n")] = '\0';
}

/* "67108864 (64 MiB)"; with the percentage when one was given. */
static const char *describe_value(const struct fault_val *v, uint64_t bytes, char *buf, size_t len)
{
	char sz[32];

	format_size(bytes, sz, sizeof(sz));
	if (v->size.is_pct)
		snprintf(buf, len, "%llu (%s, %g%%)", (unsigned long long)bytes, sz, v->size.pct);
	else
		snprintf(buf, len, "%llu (%s)", (unsigned long long)bytes, sz);
	return buf;
}

static int plan_write(struct fault *f, const char *file, const struct fault_val *v, uint64_t bytes)
{
	char now[64], desc[96];

	read_now(f->target->dir, file, now, sizeof(now));
	return fault_plan_add(f, "write %s to %s/%s (now '%s'; put back on revert)",
			      describe_value(v, bytes, desc, sizeof(desc)), f->target->dir, file,
			      now);
}

static int memory_plan(struct fault *f, struct duress_err *err)
{
	struct memory_priv *p = f->priv;
	const struct fault_val *vmax = fault_opt(f, "max"), *vhigh = fault_opt(f, "high");
	const struct fault_val *vswap = fault_opt(f, "swap-max"), *vhog = fault_opt(f, "hog");
	const struct fault_val *vramp = fault_opt(f, "ramp");
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t page = pg > 0 ? (uint64_t)pg : 4096;
	struct duress_err e = { 0 };
	uint64_t current = 0, limit;
	bool have_current;
	char s1[32], s2[32], s3[32];

	if (target_memory_capacity(f->target, &p->capacity, p->capacity_src,
				   sizeof(p->capacity_src), err) < 0)
		return -1;
	if ((vmax->set && vmax->size.is_pct) || (vhigh->set && vhigh->size.is_pct) ||
	    (vhog->set && vhog->size.is_pct))
		fault_plan_add(f, "percentages are of %s: %s",
			       format_size(p->capacity, s1, sizeof(s1)), p->capacity_src);

	if (vmax->set && memory_resolve(&vmax->size, p->capacity, page, "--max", &p->max, err) < 0)
		return -1;
	if (vhigh->set &&
	    memory_resolve(&vhigh->size, p->capacity, page, "--high", &p->high, err) < 0)
		return -1;
	if (vhog->set &&
	    memory_resolve(&vhog->size, p->capacity, page, "--hog", &p->arg.bytes, err) < 0)
		return -1;
	if (vmax->set && vhigh->set && p->high >= p->max)
		return duress_err_setc(
			err, DURESS_EXIT_USAGE, 0,
			"--high: %s is not below --max %s: memory.high would never act",
			format_size(p->high, s1, sizeof(s1)), format_size(p->max, s2, sizeof(s2)));
	p->set_max = vmax->set;
	p->set_high = vhigh->set;
	p->set_swap = vswap->set;
	p->swap_max = vswap->u;
	p->hog = vhog->set;
	p->arg.ramp_us = vramp->set ? vramp->u : 0;

	have_current = cg_read_u64(f->target->dir, "memory.current", &current, &e) == 0;
	if (p->set_max) {
		plan_write(f, "memory.max", vmax, p->max);
		if (have_current && current > p->max)
			fprintf(stderr,
				"duress: warning: --max %s is below what %s uses now (%s): the kernel "
				"will reclaim and OOM-kill processes of the target at once\n",
				format_size(p->max, s1, sizeof(s1)), f->target->dir,
				format_size(current, s2, sizeof(s2)));
	}
	if (p->set_high) {
		plan_write(f, "memory.high", vhigh, p->high);
		if (have_current && current > p->high)
			fault_plan_add(
				f,
				"  the target uses %s now, above --high: it is throttled at once",
				format_size(current, s1, sizeof(s1)));
	}
	if (p->set_swap)
		plan_write(f, "memory.swap.max", vswap, p->swap_max);
	if (p->hog) {
		char ramp[64], desc[96];

		if (p->arg.ramp_us)
			snprintf(ramp, sizeof(ramp), "growing linearly over %s",
				 format_duration(p->arg.ramp_us, s3, sizeof(s3)));
		else
			snprintf(ramp, sizeof(ramp), "all at once");
		fault_plan_add(f,
			       "make the cgroup %s/duress-memory-%d and run a memory hog in it "
			       "(%s, oom_score_adj %d) that keeps %s resident, %s; %s",
			       f->target->dir, (int)getpid(), HOG_NAME, HOG_OOM_SCORE_ADJ,
			       describe_value(vhog, p->arg.bytes, desc, sizeof(desc)), ramp,
			       p->hog_once ? "not restarted if killed (--hog-once)"
					   : "restarted if killed (backoff 100ms doubling to 2s)");
		limit = p->set_max && p->max < p->capacity ? p->max : p->capacity;
		if (p->arg.bytes > limit)
			fault_plan_add(
				f, "  the hog is larger than the %s it may use: expect OOM kills",
				format_size(limit, s2, sizeof(s2)));
		if (p->arg.ramp_us && f->duration_us && p->arg.ramp_us > f->duration_us)
			fault_plan_add(f, "  --ramp is longer than --for: the hog reaches only %s",
				       format_size(memory_ramp_bytes(p->arg.bytes, f->duration_us,
								     p->arg.ramp_us, page),
						   s2, sizeof(s2)));
		fault_plan_add(f, "revert: kill the hog and remove %s/duress-memory-%d",
			       f->target->dir, (int)getpid());
	}
	return 0;
}

static int hog_start(struct fault *f, uint64_t now_us, struct duress_err *err)
{
	struct memory_priv *p = f->priv;

	if (worker_spawn(p->workers, HOG_NAME, HOG_OOM_SCORE_ADJ, hog_main, &p->arg, &p->hog_pid,
			 err) < 0)
		return duress_err_wrap(err, "memory hog");
	p->hog_start_us = now_us;
	p->hog_start_ns = mono_ns();
	return 0;
}

static int memory_apply(struct fault *f, struct duress_err *err)
{
	struct memory_priv *p = f->priv;
	const char *dir = f->target->dir;
	char v[32];
	void *sh;

	p->time_to_full_s = -1;
	if (p->set_max) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)p->max);
		if (fault_cg_set(f, dir, "memory.max", v, err) < 0)
			return -1;
	}
	if (p->set_high) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)p->high);
		if (fault_cg_set(f, dir, "memory.high", v, err) < 0)
			return -1;
	}
	if (p->set_swap) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)p->swap_max);
		if (fault_cg_set(f, dir, "memory.swap.max", v, err) < 0)
			return -1;
	}
	if (!p->hog)
		return 0;
	sh = mmap(NULL, sizeof(struct hog_shared), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "memory hog: shared page");
	p->shared = sh;
	p->arg.shared = sh;
	if (workers_cgroup(f, false, p->workers, sizeof(p->workers), err) < 0)
		return -1;
	p->arg.ramp_start_ns = mono_ns();
	return hog_start(f, 0, err);
}

/* Take in what the running hog has done so far. */
static void hog_observe(struct memory_priv *p)
{
	uint64_t res, full;

	if (!p->shared || !p->hog_pid)
		return;
	res = atomic_load(&p->shared->resident);
	full = atomic_load(&p->shared->full_ns);
	if (res > p->resident_peak)
		p->resident_peak = res;
	if (full && p->time_to_full_s < 0 && full > p->hog_start_ns)
		p->time_to_full_s = (double)(full - p->hog_start_ns) / 1e9;
}

/* The running hog ended (wait status st, or st < 0: not ours to wait for). */
static void hog_ended(struct memory_priv *p, int st, uint64_t now_us)
{
	int step = atomic_load(&p->shared->fail_step);
	bool healthy = now_us - p->hog_start_us >= HOG_HEALTHY_US ||
		       atomic_load(&p->shared->full_ns) != 0;
	char sz[32];

	if (st >= 0 && WIFSIGNALED(st)) {
		p->kills++;
		p->last_signal = WTERMSIG(st);
	} else {
		p->exits++;
		p->last_exit = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	}
	if (step != HOG_OK)
		snprintf(p->last_error, sizeof(p->last_error), "%s %s: %s",
			 step == HOG_MMAP ? "mmap" : "populate",
			 format_size(p->arg.bytes, sz, sizeof(sz)),
			 strerror(atomic_load(&p->shared->fail_errno)));
	p->hog_pid = 0;
	p->streak = healthy ? 1 : p->streak + 1;
	if (p->hog_once)
		p->hog_done = true;
	else
		p->restart_at_us = now_us + memory_backoff_us(p->streak);
}

static int memory_tick(struct fault *f, uint64_t now_us, struct duress_err *err)
{
	struct memory_priv *p = f->priv;
	int st = 0, r;

	if (!p->hog || !p->shared)
		return 0;
	hog_observe(p);
	if (p->hog_pid) {
		r = worker_reap(p->hog_pid, &st);
		if (r == 0)
			return 0;
		hog_ended(p, r > 0 ? st : -1, now_us);
		return 0;
	}
	if (p->hog_done || now_us < p->restart_at_us)
		return 0;
	if (hog_start(f, now_us, err) < 0)
		return -1;
	p->restarts++;
	return 0;
}

static void memory_report(struct fault *f, json_t *summary)
{
	struct memory_priv *p = f->priv;

	if (!p->hog || !p->shared)
		return;
	hog_observe(p);
	json_object_set_new(summary, "hog_bytes", json_integer((json_int_t)p->arg.bytes));
	json_object_set_new(summary, "hog_resident_peak_bytes",
			    json_integer((json_int_t)p->resident_peak));
	json_object_set_new(summary, "hog_locked", json_boolean(atomic_load(&p->shared->locked)));
	if (p->time_to_full_s >= 0)
		json_object_set_new(summary, "hog_time_to_full_s",
				    json_real((double)(long)(p->time_to_full_s * 1000) / 1000));
	json_object_set_new(summary, "hog_kills", json_integer(p->kills));
	json_object_set_new(summary, "hog_restarts", json_integer(p->restarts));
	if (p->exits)
		json_object_set_new(summary, "hog_exits", json_integer(p->exits));
	if (p->last_error[0])
		json_object_set_new(summary, "hog_last_error", json_string(p->last_error));
}

static void memory_release(struct fault *f)
{
	struct memory_priv *p = f->priv;

	/* An unreaped child cannot have had its pid reused: safe to kill.
	 * Normally the revert has killed it already; reap it, bounded. */
	if (p->hog_pid > 0) {
		kill(p->hog_pid, SIGKILL);
		for (int i = 0; i < 200 && waitpid(p->hog_pid, NULL, WNOHANG) == 0; i++)
			usleep(10000);
		p->hog_pid = 0;
	}
	if (p->shared) {
		munmap(p->shared, sizeof(struct hog_shared));
		p->shared = NULL;
	}
}

const struct fault_desc fault_memory = {
	.name = "memory",
	.summary = "cap the target's memory (memory.max, memory.high, memory.swap.max) and/or "
		   "run a memory hog in it",
	.opts = memory_opts,
	.nopts = sizeof(memory_opts) / sizeof(memory_opts[0]),
	.priv_size = sizeof(struct memory_priv),
	.validate = memory_validate,
	.supported = memory_supported,
	.plan = memory_plan,
	.apply = memory_apply,
	.tick = memory_tick,
	.report = memory_report,
	.release = memory_release,
};
