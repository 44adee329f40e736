// SPDX-License-Identifier: MIT
/* TCP toxics; see include/duress/proxy/tcpf.h. */
#include <duress/proxy/tcpf.h>

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define TCPF_SLICES_PER_S 50

static const char *const names[TCPF_NKINDS] = {
	[TCPF_RESET] = "reset",		  [TCPF_TIMEOUT] = "timeout",
	[TCPF_LATENCY] = "latency",	  [TCPF_BANDWIDTH] = "bandwidth",
	[TCPF_SLOW_CLOSE] = "slow_close", [TCPF_LIMIT_DATA] = "limit_data",
};

const char *tcpf_kind_name(enum tcpf_kind k)
{
	return k < TCPF_NKINDS ? names[k] : "?";
}

struct tconn {
	bool picked, timeout;
	uint64_t pace_at[2]; /* bandwidth: when the next byte may go */
	uint64_t sent_down;  /* limit_data */
	uint64_t reset_at;   /* reset_after */
	uint64_t shut_at;    /* slow close: when pending FINs go */
	bool shut_pending[2];
	bool limited;
};

static bool touches(const struct tcpf_config *cfg, int dir)
{
	return cfg->latency_ns[dir] || cfg->bandwidth_bps[dir] || cfg->slow_close_ns ||
	       (dir == PROXY_DOWN && cfg->limit_data) || (cfg->jitter_ns && cfg->latency_ns[dir]);
}

static void rearm(struct proxy_conn *c, struct tconn *t)
{
	uint64_t at = t->reset_at;

	if (t->shut_at && (!at || t->shut_at < at))
		at = t->shut_at;
	proxy_timer(c, at);
}

static int t_open(struct proxy_conn *c)
{
	struct tcpf_config *cfg = proxy_conn_arg(c);
	struct tconn *t = proxy_conn_priv(c);
	uint64_t now = proxy_conn_now(c);

	if (!hrule_rng_pct(&cfg->rng, cfg->percent)) {
		proxy_pass(c, PROXY_UP);
		proxy_pass(c, PROXY_DOWN);
		return PROXY_OPEN_CONNECT;
	}
	t->picked = true;
	cfg->picked++;
	if (cfg->reset && !cfg->reset_after_ns) {
		cfg->injected[TCPF_RESET]++;
		proxy_reset(c, false);
		return PROXY_OPEN_NO_UPSTREAM;
	}
	if (cfg->timeout) {
		cfg->injected[TCPF_TIMEOUT]++;
		t->timeout = true;
		return PROXY_OPEN_NO_UPSTREAM;
	}
	if (cfg->reset) {
		cfg->injected[TCPF_RESET]++;
		t->reset_at = now + cfg->reset_after_ns;
		rearm(c, t);
	}
	if (cfg->latency_ns[0] || cfg->latency_ns[1])
		cfg->injected[TCPF_LATENCY]++;
	if (cfg->bandwidth_bps[0] || cfg->bandwidth_bps[1])
		cfg->injected[TCPF_BANDWIDTH]++;
	if (cfg->slow_close_ns)
		cfg->injected[TCPF_SLOW_CLOSE]++;
	for (int d = 0; d < 2; d++)
		if (!touches(cfg, d))
			proxy_pass(c, (enum proxy_dir)d);
	return PROXY_OPEN_CONNECT;
}

/* uniform in [-j, +j] */
static int64_t jitter(struct tcpf_config *cfg)
{
	if (!cfg->jitter_ns)
		return 0;
	return (int64_t)(hrule_rng_next(&cfg->rng) % (2 * cfg->jitter_ns + 1)) -
	       (int64_t)cfg->jitter_ns;
}

static void t_data(struct proxy_conn *c, enum proxy_dir dir, const char *buf, size_t len)
{
	struct tcpf_config *cfg = proxy_conn_arg(c);
	struct tconn *t = proxy_conn_priv(c);
	uint64_t now = proxy_conn_now(c), at;
	int64_t lat;

	if (t->timeout) {
		cfg->swallowed += len;
		return;
	}
	if (t->limited)
		return;
	if (dir == PROXY_DOWN && cfg->limit_data) {
		if (t->sent_down + len >= cfg->limit_data) {
			len = (size_t)(cfg->limit_data - t->sent_down);
			t->limited = true;
			cfg->injected[TCPF_LIMIT_DATA]++;
		}
		t->sent_down += len;
	}
	lat = (int64_t)cfg->latency_ns[dir] + (cfg->latency_ns[dir] ? jitter(cfg) : 0);
	at = lat > 0 ? now + (uint64_t)lat : 0;
	if (!cfg->bandwidth_bps[dir]) {
		proxy_send(c, dir, buf, len, at);
	} else {
		size_t slice = (size_t)(cfg->bandwidth_bps[dir] / TCPF_SLICES_PER_S);

		if (!slice)
			slice = 1;
		if (slice > 65536)
			slice = 65536;
		while (len) {
			size_t n = len < slice ? len : slice;
			uint64_t start = t->pace_at[dir] > (at ? at : now) ? t->pace_at[dir]
									   : (at ? at : now);

			t->pace_at[dir] =
				start + (uint64_t)n * PROXY_NS_PER_S / cfg->bandwidth_bps[dir];
			proxy_send(c, dir, buf, n, t->pace_at[dir]);
			buf += n;
			len -= n;
		}
	}
	if (t->limited)
		proxy_close(c);
}

static void t_eof(struct proxy_conn *c, enum proxy_dir dir)
{
	struct tcpf_config *cfg = proxy_conn_arg(c);
	struct tconn *t = proxy_conn_priv(c);

	if (t->timeout) {
		/* the client gave up on us: so do we */
		if (dir == PROXY_UP)
			proxy_close(c);
		return;
	}
	if (!cfg->slow_close_ns) {
		proxy_shutdown(c, dir);
		return;
	}
	t->shut_pending[dir] = true;
	if (!t->shut_at)
		t->shut_at = proxy_conn_now(c) + cfg->slow_close_ns;
	rearm(c, t);
}

static void t_timer(struct proxy_conn *c)
{
	struct tconn *t = proxy_conn_priv(c);
	uint64_t now = proxy_conn_now(c);

	if (t->reset_at && t->reset_at <= now) {
		t->reset_at = 0;
		proxy_reset(c, false);
		return;
	}
	if (t->shut_at && t->shut_at <= now) {
		t->shut_at = 0;
		for (int d = 0; d < 2; d++)
			if (t->shut_pending[d]) {
				t->shut_pending[d] = false;
				proxy_shutdown(c, (enum proxy_dir)d);
			}
	}
	rearm(c, t);
}

static void t_stats(void *arg, json_t *out)
{
	struct tcpf_config *cfg = arg;
	json_t *inj = json_object();

	json_object_set_new(out, "picked", json_integer((json_int_t)cfg->picked));
	json_object_set_new(out, "swallowed_bytes", json_integer((json_int_t)cfg->swallowed));
	for (int k = 0; k < TCPF_NKINDS; k++)
		json_object_set_new(inj, names[k], json_integer((json_int_t)cfg->injected[k]));
	json_object_set_new(out, "injected", inj);
}

void tcpf_init(struct tcpf_config *cfg)
{
	uint64_t seed = cfg->seed;

	if (!seed && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)(uintptr_t)cfg ^ 0x2545f4914f6cdd1dULL;
	hrule_rng_seed(&cfg->rng, seed);
}

const struct proxy_filter tcpf_filter = {
	.name = "tcp",
	.conn_size = sizeof(struct tconn),
	.open = t_open,
	.data = t_data,
	.eof = t_eof,
	.timer = t_timer,
	.stats = t_stats,
};
