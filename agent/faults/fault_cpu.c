// SPDX-License-Identifier: MIT
/*
 * cpu: CPU contention and CPU limits.  Stress workers (one process each)
 * burn a share of one CPU apiece, either inside the target, eating its own
 * quota, or beside it, as a noisy neighbour on the same CPUs; --quota and
 * --weight lower the target's cpu.max and cpu.weight.  docs/faults/cpu.md
 * is the user's view; include/duress/fault_cpu.h the pure helpers.
 */
#include <duress/core/cgroup.h>
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/faults/workers.h>
#include <duress/faults/fault_cpu.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CPU_WORKERS_MAX 4096
#define CPU_QUOTA_MAX 4096.0
#define CPU_WORKER_NAME "duress-cpu"
/* Workers use no memory to speak of; if the OOM killer must choose, it
 * should still pick them before the target's own processes. */
#define CPU_WORKER_OOM_ADJ 1000

/* ---- pure helpers (include/duress/fault_cpu.h) ---- */

int cpu_quota_format(double cpus, uint64_t period_us, char *buf, size_t len)
{
	double q = cpus * (double)period_us;
	int n;

	if (!(q >= (double)CPU_QUOTA_MIN_US - 0.5) || q > 1e15 || period_us == 0) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(buf, len, "%llu %llu", (unsigned long long)llround(q),
		     (unsigned long long)period_us);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

unsigned int cpu_default_workers(double cpus)
{
	double n = ceil(cpus - 1e-9);

	if (!(n >= 1))
		return 1;
	if (n > CPU_WORKERS_MAX)
		return CPU_WORKERS_MAX;
	return (unsigned int)n;
}

static int read_cpu_number(const char **s, unsigned long *out)
{
	char *end;

	if (!isdigit((unsigned char)**s))
		return -1;
	errno = 0;
	*out = strtoul(*s, &end, 10);
	if (errno || *out >= CPU_SETSIZE)
		return -1;
	*s = end;
	return 0;
}

int cpu_list_parse(const char *text, cpu_set_t *set, unsigned int *count)
{
	const char *s = text;
	cpu_set_t tmp;

	CPU_ZERO(&tmp);
	while (isspace((unsigned char)*s))
		s++;
	while (*s && !isspace((unsigned char)*s)) {
		unsigned long a, b;

		if (read_cpu_number(&s, &a) < 0)
			goto bad;
		b = a;
		if (*s == '-') {
			s++;
			if (read_cpu_number(&s, &b) < 0 || b < a)
				goto bad;
		}
		for (unsigned long c = a; c <= b; c++)
			CPU_SET(c, &tmp);
		if (*s == ',') {
			s++;
			if (!isdigit((unsigned char)*s))
				goto bad;
		} else if (*s && !isspace((unsigned char)*s)) {
			goto bad;
		}
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s)
		goto bad;
	*set = tmp;
	*count = (unsigned int)CPU_COUNT(&tmp);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

void cpu_duty_init(struct cpu_duty *d, double load_pct, uint64_t period_ns)
{
	if (!(load_pct > 0))
		load_pct = 0;
	if (load_pct > 100)
		load_pct = 100;
	d->period_ns = period_ns;
	d->load = load_pct / 100.0;
	d->debt_ns = 0;
}

uint64_t cpu_duty_budget(const struct cpu_duty *d)
{
	double b = d->load * (double)d->period_ns + (double)d->debt_ns;

	if (b <= 0)
		return 0;
	if (b >= (double)d->period_ns)
		return d->period_ns;
	return (uint64_t)llround(b);
}

void cpu_duty_account(struct cpu_duty *d, uint64_t elapsed_ns, uint64_t used_ns)
{
	double p = (double)d->period_ns;
	double debt = (double)d->debt_ns + d->load * (double)elapsed_ns - (double)used_ns;

	if (debt > p)
		debt = p;
	if (debt < -p * CPU_DUTY_PAYBACK_SLICES)
		debt = -p * CPU_DUTY_PAYBACK_SLICES;
	d->debt_ns = (int64_t)llround(debt);
}

unsigned int cpu_chunk_adapt(unsigned int chunk, uint64_t took_ns)
{
	if (chunk < 1)
		chunk = 1;
	if (took_ns < CPU_CHECK_MIN_NS && chunk <= CPU_CHUNK_MAX / 2)
		return chunk * 2;
	if (took_ns > CPU_CHECK_MAX_NS && chunk > 1)
		return chunk / 2;
	return chunk > CPU_CHUNK_MAX ? CPU_CHUNK_MAX : chunk;
}

/* ---- the worker (runs in a child process) ---- */

struct cpu_worker_arg {
	double load; /* percent of one CPU */
	uint64_t slice_ns;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void spin_rounds(unsigned int n)
{
	volatile uint64_t x = 1;

	for (unsigned int i = 0; i < n; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
}

/* Spin until CLOCK_MONOTONIC reaches end, reading it every *chunk rounds. */
static void busy_until(uint64_t end, unsigned int *chunk)
{
	uint64_t last = clock_ns(CLOCK_MONOTONIC);

	while (last < end) {
		uint64_t now;

		spin_rounds(*chunk);
		now = clock_ns(CLOCK_MONOTONIC);
		*chunk = cpu_chunk_adapt(*chunk, now - last);
		last = now;
	}
}

static void sleep_until(uint64_t mono_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(mono_ns / 1000000000ULL),
		.tv_nsec = (long)(mono_ns % 1000000000ULL),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Busy for the slice's budget (arithmetic, checking CLOCK_MONOTONIC every
 * 50-200 us), asleep (absolute deadline) for the rest.  Slices are laid on
 * a fixed grid, so wake-up lateness does not accumulate; after each slice
 * the wall time passed and the CPU time used (the thread's own CPU clock)
 * feed the duty cycle's carry.  A worker that falls more than a slice behind
 * (stopped, throttled) restarts the grid at now rather than catching up.
 * At 100% the worker only spins.  Runs until it is killed (cgroup.kill on
 * revert, or SIGKILL when the agent dies).
 */
static int cpu_worker(void *arg)
{
	const struct cpu_worker_arg *a = arg;
	struct cpu_duty duty;
	uint64_t start, wall_last, cpu_last;
	unsigned int chunk = 64;

	/* at 100% there is nothing to time: no clock reads at all */
	if (a->load >= 100)
		for (;;)
			spin_rounds(CPU_CHUNK_MAX);
	/* wake up on time: the default 50 us timer slack is 0.5% of a slice */
	prctl(PR_SET_TIMERSLACK, 1UL);
	cpu_duty_init(&duty, a->load, a->slice_ns);
	start = wall_last = clock_ns(CLOCK_MONOTONIC);
	cpu_last = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (;;) {
		uint64_t budget = cpu_duty_budget(&duty);
		uint64_t busy_end = start + budget, next = start + duty.period_ns;
		uint64_t cpu, now;

		busy_until(busy_end, &chunk);
		if (budget < duty.period_ns)
			sleep_until(next);
		cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		now = clock_ns(CLOCK_MONOTONIC);
		cpu_duty_account(&duty, now - wall_last, cpu - cpu_last);
		cpu_last = cpu;
		wall_last = now;
		start = next;
		if (now > start + duty.period_ns)
			start = now;
	}
	return 0;
}

/* ---- the fault ---- */

enum { CPU_INSIDE, CPU_BESIDE };
static const char *const cpu_placements[] = { "inside", "beside", NULL };

static const struct fault_opt cpu_opts[] = {
	{ .name = "workers",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .max = CPU_WORKERS_MAX,
	  .help = "stress worker processes (default: the CPUs the target may use, rounded up)" },
	{ .name = "load",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .min = 0,
	  .max = 100,
	  .help = "busy share of one CPU per worker, over 10 ms slices (default 100)" },
	{ .name = "placement",
	  .type = FOPT_ENUM,
	  .metavar = "inside|beside",
	  .choices = cpu_placements,
	  .help = "workers in the target (eating its quota; default) or in a sibling cgroup" },
	{ .name = "quota",
	  .type = FOPT_DOUBLE,
	  .metavar = "CPUS",
	  .min = 0.01,
	  .max = CPU_QUOTA_MAX,
	  .help = "set the target's cpu.max to CPUS CPUs per 100 ms period (0.5 = half a CPU)" },
	{ .name = "weight",
	  .type = FOPT_UINT,
	  .metavar = "N",
	  .min = 1,
	  .max = 10000,
	  .help = "set the target's cpu.weight (1..10000; the kernel's default is 100)" },
};

struct cpu_priv {
	bool run_workers;
	bool beside;
	unsigned int nworkers;
	struct cpu_worker_arg warg;
	bool pin; /* pin workers to cpus */
	cpu_set_t cpus;
	char cpus_text[256];
	char cpus_src[PATH_MAX]; /* the cgroup whose cpuset.cpus.effective it is */
	char quota[64];		 /* cpu.max to write, "" for none */
	char weight[16];	 /* cpu.weight to write, "" for none */
	char wdir[PATH_MAX];	 /* the workers' cgroup, once made */
	pid_t *pids;		 /* nworkers entries, 0 = none running */
	unsigned int restarts;	 /* workers started again after they died */
};

static int cpu_validate(struct fault *f, struct duress_err *err)
{
	const struct fault_val *load = fault_opt(f, "load");

	if (load->set && !(load->d > 0))
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
				       "--load: '%g': must be more than 0%% (a worker at 0%% does "
				       "nothing)",
				       load->d);
	return 0;
}

/* Workers run unless only limits were asked for: `--quota` and/or
 * `--weight` alone change limits; anything else (or nothing) burns. */
static bool wants_workers(const struct fault *f)
{
	if (fault_opt(f, "workers")->set || fault_opt(f, "load")->set ||
	    fault_opt(f, "placement")->set)
		return true;
	return !fault_opt(f, "quota")->set && !fault_opt(f, "weight")->set;
}

static bool is_beside(const struct fault *f)
{
	const struct fault_val *pl = fault_opt(f, "placement");

	return pl->set && pl->choice == CPU_BESIDE;
}

static int cpu_supported(struct fault *f, struct duress_err *err)
{
	static const struct {
		const char *opt, *file;
	} needs[] = { { "quota", "cpu.max" }, { "weight", "cpu.weight" } };
	const char *dir = f->target->dir;

	for (size_t i = 0; i < DURESS_ARRAY_SIZE(needs); i++) {
		if (!fault_opt(f, needs[i].opt)->set || cg_exists(dir, needs[i].file))
			continue;
		if (!strcmp(f->target->rel, "/"))
			return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
					       "cpu: --%s: the root cgroup %s has no %s",
					       needs[i].opt, dir, needs[i].file);
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "cpu: --%s: %s has no %s: the cpu controller is not enabled "
				       "for it (add '+cpu' to its parent's cgroup.subtree_control)",
				       needs[i].opt, dir, needs[i].file);
	}
	if (wants_workers(f) && is_beside(f) && !strcmp(f->target->rel, "/"))
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "cpu: --placement beside: the root cgroup has no parent to "
				       "put a neighbour in");
	return 0;
}

/*
 * The CPUs the target may run on: cpuset.cpus.effective of the target or
 * of its nearest ancestor that has one (the cpuset controller may be
 * enabled higher up only).  *found false when no cgroup up to the mount has
 * the file (no cpuset controller): the workers are then not pinned.
 */
static int target_cpuset(const struct target *t, struct cpu_priv *p, bool *found,
			 struct duress_err *err)
{
	char cur[PATH_MAX];
	size_t rl = strcmp(t->rel, "/") ? strlen(t->rel) : 0, dl = strlen(t->dir);
	size_t mount_len = rl <= dl ? dl - rl : dl;

	*found = false;
	snprintf(cur, sizeof(cur), "%s", t->dir);
	for (;;) {
		struct duress_err e = { 0 };
		char buf[sizeof(p->cpus_text)];
		unsigned int n;
		char *slash;

		if (cg_read_buf(cur, "cpuset.cpus.effective", buf, sizeof(buf), &e) >= 0) {
			if (cpu_list_parse(buf, &p->cpus, &n) < 0)
				return duress_err_set(err, EINVAL,
						      "cpu: %s/cpuset.cpus.effective: unexpected "
						      "content '%.64s'",
						      cur, buf);
			if (n > 0) {
				buf[strcspn(buf, "\n")] = '\0';
				snprintf(p->cpus_text, sizeof(p->cpus_text), "%s", buf);
				snprintf(p->cpus_src, sizeof(p->cpus_src), "%s", cur);
				*found = true;
				return 0;
			}
		} else if (e.errnum != ENOENT) {
			*err = e;
			return duress_err_wrap(err, "cpu");
		}
		if (strlen(cur) <= mount_len)
			return 0;
		slash = strrchr(cur, '/');
		if (!slash || slash == cur || (size_t)(slash - cur) < mount_len)
			return 0;
		*slash = '\0';
	}
}

/* Current content of dir/file for plan lines, "?" if it cannot be read. */
static void read_now(const char *dir, const char *file, char *buf, size_t len)
{
	struct duress_err e = { 0 };

	if (cg_read_buf(dir, file, buf, len, &e) < 0)
		snprintf(buf, len, "?");
	buf[strcspn(buf, "\n")] = '\0';
}

static int plan_workers(struct fault *f, struct cpu_priv *p, struct duress_err *err)
{
	const struct fault_val *workers = fault_opt(f, "workers");
	const struct fault_val *load = fault_opt(f, "load");
	const struct fault_val *quota = fault_opt(f, "quota");
	char why[PATH_MAX + 128] = "";
	char parent[PATH_MAX];
	bool found;

	p->beside = is_beside(f);
	p->warg.load = load->set ? load->d : 100;
	p->warg.slice_ns = CPU_SLICE_NS;
	if (target_cpuset(f->target, p, &found, err) < 0)
		return -1;
	p->pin = found;
	if (workers->set) {
		p->nworkers = (unsigned int)workers->u;
	} else if (p->beside) {
		/* a neighbour contends on every CPU the target may run on;
		 * the target's quota does not bound it */
		long online = sysconf(_SC_NPROCESSORS_ONLN);

		p->nworkers = found ? (unsigned int)CPU_COUNT(&p->cpus)
				    : (unsigned int)(online > 0 ? online : 1);
		snprintf(why, sizeof(why), " (default: the %u CPUs the target may run on, %s)",
			 p->nworkers, found ? p->cpus_text : "all online");
	} else {
		char src[PATH_MAX + 64];
		double cap;

		if (quota->set) {
			cap = quota->d;
			snprintf(src, sizeof(src), "--quota");
		} else if (target_cpu_capacity(f->target, &cap, src, sizeof(src), err) < 0) {
			return duress_err_wrap(err, "cpu: capacity of %s", f->target->dir);
		}
		p->nworkers = cpu_default_workers(cap);
		snprintf(why, sizeof(why),
			 " (default: the target may use %.2f CPUs, %s, rounded up)", cap, src);
	}
	p->pids = calloc(p->nworkers, sizeof(*p->pids));
	if (!p->pids)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "cpu: %u workers",
				       p->nworkers);

	snprintf(parent, sizeof(parent), "%s", f->target->dir);
	if (p->beside) {
		char *slash = strrchr(parent, '/');

		if (slash && slash != parent)
			*slash = '\0';
	}
	fault_plan_add(f, "create cgroup %s/duress-cpu-%d (%s)", parent, (int)getpid(),
		       p->beside ? "beside the target, under its parent: not charged to the target"
				 : "inside the target: its CPU time is charged to the target");
	fault_plan_add(f,
		       "start %u worker process%s '%s' busy %g%% of one CPU each in 10 ms "
		       "slices (%.2f CPUs in all)%s",
		       p->nworkers, p->nworkers == 1 ? "" : "es", CPU_WORKER_NAME, p->warg.load,
		       p->nworkers * p->warg.load / 100.0, why);
	if (p->pin)
		fault_plan_add(f, "pin them to CPUs %s (cpuset.cpus.effective of %s)", p->cpus_text,
			       p->cpus_src);
	return 0;
}

static int cpu_plan(struct fault *f, struct duress_err *err)
{
	struct cpu_priv *p = f->priv;
	const struct fault_val *quota = fault_opt(f, "quota");
	const struct fault_val *weight = fault_opt(f, "weight");
	const char *dir = f->target->dir;
	char now[128];

	if (quota->set) {
		if (cpu_quota_format(quota->d, CPU_PERIOD_US, p->quota, sizeof(p->quota)) < 0)
			return duress_err_setc(err, DURESS_EXIT_USAGE, 0,
					       "--quota: '%g': must be at least %g CPUs", quota->d,
					       (double)CPU_QUOTA_MIN_US / CPU_PERIOD_US);
		read_now(dir, "cpu.max", now, sizeof(now));
		fault_plan_add(f, "write '%s' to %s/cpu.max (now '%s'): %g CPUs", p->quota, dir,
			       now, quota->d);
	}
	if (weight->set) {
		snprintf(p->weight, sizeof(p->weight), "%llu", (unsigned long long)weight->u);
		read_now(dir, "cpu.weight", now, sizeof(now));
		fault_plan_add(f, "write '%s' to %s/cpu.weight (now '%s')", p->weight, dir, now);
	}
	p->run_workers = wants_workers(f);
	if (p->run_workers && plan_workers(f, p, err) < 0)
		return -1;
	if (p->run_workers)
		fault_plan_add(f, "revert: kill the workers and remove their cgroup");
	if (quota->set || weight->set)
		fault_plan_add(f, "revert: write the original %s%s%s back",
			       quota->set ? "cpu.max" : "",
			       quota->set && weight->set ? " and " : "",
			       weight->set ? "cpu.weight" : "");
	return 0;
}

static int start_worker(struct fault *f, struct cpu_priv *p, unsigned int i, struct duress_err *err)
{
	pid_t pid;

	if (worker_spawn(p->wdir, CPU_WORKER_NAME, CPU_WORKER_OOM_ADJ, cpu_worker, &p->warg, &pid,
			 err) < 0)
		return duress_err_wrap(err, "cpu: worker %u", i + 1);
	p->pids[i] = pid;
	if (p->pin && sched_setaffinity(pid, sizeof(p->cpus), &p->cpus) < 0)
		return duress_err_setc(
			err, DURESS_EXIT_INTERNAL, errno,
			"cpu: pin worker %d to CPUs %s (cpuset.cpus.effective of %s)", (int)pid,
			p->cpus_text, p->cpus_src);
	return 0;
}

static int cpu_apply(struct fault *f, struct duress_err *err)
{
	struct cpu_priv *p = f->priv;
	const char *dir = f->target->dir;

	if (p->quota[0] && fault_cg_set(f, dir, "cpu.max", p->quota, err) < 0)
		return duress_err_wrap(err, "cpu: --quota");
	if (p->weight[0] && fault_cg_set(f, dir, "cpu.weight", p->weight, err) < 0)
		return duress_err_wrap(err, "cpu: --weight");
	if (!p->run_workers)
		return 0;
	if (workers_cgroup(f, p->beside, p->wdir, sizeof(p->wdir), err) < 0)
		return -1;
	for (unsigned int i = 0; i < p->nworkers; i++)
		if (start_worker(f, p, i, err) < 0)
			return -1;
	return 0;
}

/* A worker that died (killed by hand, or by the OOM killer) is restarted,
 * so that the fault stays in force; the summary counts the restarts. */
static int cpu_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct cpu_priv *p = f->priv;

	if (!p->run_workers || !p->pids)
		return 0;
	for (unsigned int i = 0; i < p->nworkers; i++) {
		int status;

		if (p->pids[i] <= 0 || worker_reap(p->pids[i], &status) <= 0)
			continue;
		p->pids[i] = 0;
		if (!cg_exists(p->wdir, "cgroup.procs"))
			continue;
		if (start_worker(f, p, i, err) < 0)
			return -1;
		p->restarts++;
	}
	return 0;
}

static void cpu_report(struct fault *f, json_t *summary)
{
	struct cpu_priv *p = f->priv;

	if (p->quota[0])
		json_object_set_new(summary, "cpu_max", json_string(p->quota));
	if (p->weight[0])
		json_object_set_new(summary, "cpu_weight", json_integer(atoi(p->weight)));
	if (!p->run_workers)
		return;
	json_object_set_new(summary, "cpu_workers", json_integer(p->nworkers));
	json_object_set_new(summary, "cpu_worker_load_pct", json_real(p->warg.load));
	json_object_set_new(summary, "cpu_placement", json_string(p->beside ? "beside" : "inside"));
	if (p->pin)
		json_object_set_new(summary, "cpu_worker_cpus", json_string(p->cpus_text));
	json_object_set_new(summary, "cpu_worker_restarts", json_integer(p->restarts));
}

/* The workers are killed with their cgroup by the undo log; reap them here
 * so that none is left a zombie of the agent. */
static void cpu_release(struct fault *f)
{
	struct cpu_priv *p = f->priv;

	for (unsigned int i = 0; p->pids && i < p->nworkers; i++) {
		if (p->pids[i] <= 0)
			continue;
		kill(p->pids[i], SIGKILL);
		waitpid(p->pids[i], NULL, 0);
	}
	free(p->pids);
	p->pids = NULL;
}

const struct fault_desc fault_cpu = {
	.name = "cpu",
	.summary =
		"burn CPU in or beside the target (--workers, --load), lower cpu.max or cpu.weight",
	.opts = cpu_opts,
	.nopts = DURESS_ARRAY_SIZE(cpu_opts),
	.priv_size = sizeof(struct cpu_priv),
	.validate = cpu_validate,
	.supported = cpu_supported,
	.plan = cpu_plan,
	.apply = cpu_apply,
	.tick = cpu_tick,
	.report = cpu_report,
	.release = cpu_release,
};
