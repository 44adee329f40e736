// SPDX-License-Identifier: MIT
/*
 * tcp: toxiproxy's toxics for any protocol (TLS, databases, gRPC) through a
 * proxy, transparent (an nftables redirect in the target's network
 * namespace) or explicit (--listen/--upstream), on a percentage of the
 * connections: resets, black holes (--timeout), latency and bandwidth per
 * direction, slow closes, a data limit.  See docs/faults/tcp.md.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/fault.h>
#include <duress/faults/proxyfault.h>
#include <duress/net/netshape.h>
#include <duress/proxy/tcpf.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TCP_MAX_DELAY_US (600ULL * 1000000)

static const struct fault_opt tcp_opts[] = {
	PXF_OPTS,
	{ .name = "percent",
	  .type = FOPT_PERCENT,
	  .metavar = "PCT",
	  .max = 100,
	  .help = "apply to PCT of the connections (default 100)" },
	{ .name = "reset",
	  .type = FOPT_FLAG,
	  .help = "reset the connection (RST): the client sees ECONNRESET" },
	{ .name = "reset-after",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "--reset once the connection is DUR old, not at once" },
	{ .name = "timeout",
	  .type = FOPT_FLAG,
	  .help = "accept, then never answer (nothing reaches the server)" },
	{ .name = "latency",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "delay what the server sends by DUR" },
	{ .name = "latency-up",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "delay what the client sends by DUR" },
	{ .name = "jitter",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "vary the latencies by +-DUR (order is kept)" },
	{ .name = "bandwidth",
	  .type = FOPT_STRING,
	  .metavar = "RATE",
	  .help = "limit what the server sends to RATE (1mbit, 100KB/s)" },
	{ .name = "bandwidth-up",
	  .type = FOPT_STRING,
	  .metavar = "RATE",
	  .help = "limit what the client sends to RATE" },
	{ .name = "slow-close",
	  .type = FOPT_DURATION,
	  .metavar = "DUR",
	  .help = "pass a close (FIN) on only DUR later" },
	{ .name = "limit-data",
	  .type = FOPT_SIZE,
	  .metavar = "SIZE",
	  .min = 1,
	  .help = "close the connection after SIZE bytes from the server" },
};

struct tcp_priv {
	struct pxf px;
	struct tcpf_config tc;
};

static bool is_set(const struct fault *f, const char *name)
{
	return fault_opt(f, name)->set;
}

static void tcp_filter_init(void *arg)
{
	tcpf_init(arg);
}

static int rate(const struct fault *f, const char *name, uint64_t *out, struct duress_err *err)
{
	const struct fault_val *v = fault_opt(f, name);
	char what[32];
	uint64_t bps;

	if (!v->set)
		return 0;
	snprintf(what, sizeof(what), "--%s", name);
	if (ns_parse_rate(v->s, what, &bps, err) < 0)
		return -1;
	*out = bps / 8 ? bps / 8 : 1;
	return 0;
}

static int tcp_validate(struct fault *f, struct duress_err *err)
{
	static const char *const toxics[] = { "latency",    "latency-up",
					      "bandwidth",  "bandwidth-up",
					      "slow-close", "limit-data",
					      NULL };
	struct tcp_priv *p = f->priv;
	struct tcpf_config *c = &p->tc;
	const struct fault_val *v;

	if (pxf_validate(f, &p->px, err) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	if (is_set(f, "timeout")) {
		if (is_set(f, "reset"))
			return fault_usage(err, "--timeout and --reset exclude each other");
		for (size_t i = 0; toxics[i]; i++)
			if (is_set(f, toxics[i]))
				return fault_usage(
					err,
					"--timeout lets nothing through: --%s makes no sense "
					"with it",
					toxics[i]);
	}
	if (is_set(f, "reset-after") && !is_set(f, "reset"))
		return fault_usage(err, "--reset-after needs --reset");
	if (is_set(f, "jitter") && !is_set(f, "latency") && !is_set(f, "latency-up"))
		return fault_usage(err,
				   "--jitter varies a latency: give --latency or --latency-up");
	c->percent = is_set(f, "percent") ? fault_opt(f, "percent")->d : 100;
	c->reset = is_set(f, "reset");
	c->reset_after_ns = fault_opt(f, "reset-after")->u * 1000;
	c->timeout = is_set(f, "timeout");
	v = fault_opt(f, "latency");
	if (v->u > TCP_MAX_DELAY_US)
		return fault_usage(err, "--latency: at most 10m");
	c->latency_ns[PROXY_DOWN] = v->u * 1000;
	v = fault_opt(f, "latency-up");
	if (v->u > TCP_MAX_DELAY_US)
		return fault_usage(err, "--latency-up: at most 10m");
	c->latency_ns[PROXY_UP] = v->u * 1000;
	v = fault_opt(f, "jitter");
	if (v->u > TCP_MAX_DELAY_US)
		return fault_usage(err, "--jitter: at most 10m");
	c->jitter_ns = v->u * 1000;
	if (rate(f, "bandwidth", &c->bandwidth_bps[PROXY_DOWN], err) < 0 ||
	    rate(f, "bandwidth-up", &c->bandwidth_bps[PROXY_UP], err) < 0)
		return -1;
	v = fault_opt(f, "slow-close");
	if (v->u > TCP_MAX_DELAY_US)
		return fault_usage(err, "--slow-close: at most 10m");
	c->slow_close_ns = v->u * 1000;
	c->limit_data = fault_opt(f, "limit-data")->u;
	if (!c->reset && !c->timeout && !c->latency_ns[0] && !c->latency_ns[1] &&
	    !c->bandwidth_bps[0] && !c->bandwidth_bps[1] && !c->slow_close_ns && !c->limit_data)
		return fault_usage(err,
				   "tcp: nothing to do: give --reset, --timeout, --latency, "
				   "--latency-up, --bandwidth, --bandwidth-up, --slow-close or "
				   "--limit-data");
	p->px.filter = &tcpf_filter;
	p->px.filter_arg = c;
	p->px.filter_init = tcp_filter_init;
	return 0;
}

static bool tcp_no_target(const struct fault *f)
{
	return pxf_no_target(f);
}

static int tcp_supported(struct fault *f, struct duress_err *err)
{
	struct tcp_priv *p = f->priv;

	return pxf_supported(f, &p->px, err);
}

static int tcp_plan(struct fault *f, struct duress_err *err)
{
	struct tcp_priv *p = f->priv;
	struct tcpf_config *c = &p->tc;
	char line[768], a[32], b[32];
	size_t n = 0;

	if (pxf_plan(f, &p->px, err) < 0)
		return -1;
#define PUT(...) \
	(n += (size_t)snprintf(line + n, n < sizeof(line) ? sizeof(line) - n : 0, __VA_ARGS__))
	PUT("%g%% of the connections:", c->percent);
	if (c->reset && !c->reset_after_ns)
		PUT(" reset at once");
	if (c->reset && c->reset_after_ns)
		PUT(" reset after %s", format_duration(c->reset_after_ns / 1000, a, sizeof(a)));
	if (c->timeout)
		PUT(" accepted, never answered");
	if (c->latency_ns[PROXY_DOWN])
		PUT(" server->client +%s",
		    format_duration(c->latency_ns[PROXY_DOWN] / 1000, a, sizeof(a)));
	if (c->latency_ns[PROXY_UP])
		PUT(" client->server +%s",
		    format_duration(c->latency_ns[PROXY_UP] / 1000, a, sizeof(a)));
	if (c->jitter_ns)
		PUT(" (+-%s)", format_duration(c->jitter_ns / 1000, a, sizeof(a)));
	if (c->bandwidth_bps[PROXY_DOWN])
		PUT(" server->client at %s/s",
		    format_size(c->bandwidth_bps[PROXY_DOWN], a, sizeof(a)));
	if (c->bandwidth_bps[PROXY_UP])
		PUT(" client->server at %s/s",
		    format_size(c->bandwidth_bps[PROXY_UP], b, sizeof(b)));
	if (c->slow_close_ns)
		PUT(" closes passed on %s late",
		    format_duration(c->slow_close_ns / 1000, a, sizeof(a)));
	if (c->limit_data)
		PUT(" closed after %s from the server", format_size(c->limit_data, a, sizeof(a)));
#undef PUT
	fault_plan_add(f, "%s", line);
	return 0;
}

static int tcp_apply(struct fault *f, struct duress_err *err)
{
	struct tcp_priv *p = f->priv;

	return pxf_apply(f, &p->px, err);
}

static int tcp_tick(struct fault *f, uint64_t since_apply_us, struct duress_err *err)
{
	struct tcp_priv *p = f->priv;

	(void)since_apply_us;
	return pxf_tick(f, &p->px, err);
}

static void tcp_report(struct fault *f, json_t *summary)
{
	struct tcp_priv *p = f->priv;

	pxf_report(f, &p->px, summary);
}

static void tcp_sample(struct fault *f, json_t *sample)
{
	struct tcp_priv *p = f->priv;

	pxf_sample(f, &p->px, sample);
}

static void tcp_release(struct fault *f)
{
	struct tcp_priv *p = f->priv;

	pxf_release(&p->px);
}

const struct fault_desc fault_tcp = {
	.name = "tcp",
	.summary = "resets, black holes, latency, bandwidth, slow closes, data limits for any TCP "
		   "protocol through a proxy (toxiproxy's toxics)",
	.opts = tcp_opts,
	.nopts = DURESS_ARRAY_SIZE(tcp_opts),
	.priv_size = sizeof(struct tcp_priv),
	.validate = tcp_validate,
	.supported = tcp_supported,
	.plan = tcp_plan,
	.apply = tcp_apply,
	.tick = tcp_tick,
	.report = tcp_report,
	.release = tcp_release,
	.no_target = tcp_no_target,
	.sample = tcp_sample,
};
