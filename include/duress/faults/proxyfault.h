/* SPDX-License-Identifier: MIT */
/*
 * What the proxy faults (http, tcp; later postgres, mysql, dns) share: the
 * options that say where the proxy sits, its listener, the helper process
 * that runs the proxy engine (faults/helper.h), and the nftables redirect
 * that sends the target's connections to it (net/nft.h).
 *
 * Transparent (-t TARGET --port N [--direction inbound|outbound] [--to
 * CIDR ...]): the listener is made inside the target's network namespace
 * (a port of its own), the helper enters that namespace, and a table of
 * duress's own redirects the connections to the proxy; the proxy's own
 * connections carry PROXY_MARK and are left alone.
 * Explicit (--listen ADDR:PORT --upstream ADDR:PORT): no redirect and no
 * target; clients are pointed at the listener.
 *
 * Order of changes (each journaled first): the helper ("kill" step, pid
 * and start time), then the table ("nft-table" step); the revert, newest
 * first, removes the redirect before it ends the proxy.
 *
 * A fault keeps a struct pxf in its priv and calls these from its hooks.
 */
#ifndef DURESS_PROXYFAULT_H
#define DURESS_PROXYFAULT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include <duress/core/error.h>
#include <duress/faults/fault.h>
#include <duress/faults/helper.h>
#include <duress/net/netshape.h>
#include <duress/net/nft.h>
#include <duress/proxy/proxy.h>

#define PXF_READY_TIMEOUT_US 10000000
#define PXF_MAX_RESTARTS 5
#define PXF_UPSTREAM_CHECK_MS 2000

static const char *const pxf_direction_choices[] = { "inbound", "outbound", NULL };

/* The entries every proxy fault's option table starts with. */
#define PXF_OPTS                                                                                      \
	{ .name = "port",                                                                             \
	  .type = FOPT_UINT,                                                                          \
	  .metavar = "N",                                                                             \
	  .min = 1,                                                                                   \
	  .max = 65535,                                                                               \
	  .help = "transparent: the TCP port whose connections go through the proxy" },               \
		{ .name = "direction",                                                                \
		  .type = FOPT_ENUM,                                                                  \
		  .metavar = "DIR",                                                                   \
		  .choices = pxf_direction_choices,                                                   \
		  .help = "inbound (default: clients of the target's server on --port) or outbound "  \
			  "(the target's connections to --port elsewhere)" },                         \
		{ .name = "to",                                                                       \
		  .type = FOPT_LIST,                                                                  \
		  .metavar = "CIDR",                                                                  \
		  .help = "outbound: only connections to these addresses, repeatable (IPv4, IPv6)" }, \
		{ .name = "listen",                                                                   \
		  .type = FOPT_STRING,                                                                \
		  .metavar = "ADDR:PORT",                                                             \
		  .help = "explicit proxy: listen here (no redirect, no target needed)" },            \
	{                                                                                             \
		.name = "upstream", .type = FOPT_STRING, .metavar = "ADDR:PORT",                      \
		.help = "explicit proxy: forward every connection here"                               \
	}

/* Options set in a rule would be once-only ones: these. */
extern const char *const pxf_global_opts[];

struct pxf {
	/* from the options */
	bool explicit_mode, inbound;
	uint16_t port;
	struct ns_cidr cidrs[NFT_MAX_CIDRS];
	size_t ncidrs;
	struct sockaddr_storage listen_addr, upstream;
	socklen_t listen_len, upstream_len;
	/* what the helper runs */
	const struct proxy_filter *filter;
	void *filter_arg;
	void (*filter_init)(void *filter_arg); /* in the helper, before serving */
	char helper_name[16];		       /* "duress-http" */
	/* running */
	bool inited; /* pxf_init done: descriptors are ours */
	int listen_fd;
	uint16_t listen_port;
	unsigned long long netns_ino;
	char ref[PATH_MAX]; /* the target's namespace, for undo steps */
	char table[NFT_NAME_MAX];
	struct nft *nft;
	struct fault_helper helper;
	bool helper_started, failed_said;
	char error[512];
};

/* First thing in the fault's validate (fault_init zeroes priv; release
 * touches no descriptor of a pxf that was never set up). */
void pxf_init(struct pxf *x);

/* validate: the common options into x (usage errors name them). */
int pxf_validate(struct fault *f, struct pxf *x, struct duress_err *err);
/* no_target: explicit mode. */
bool pxf_no_target(const struct fault *f);
/* supported: the listener can be made (explicit: bound now and kept), the
 * upstream answers; transparent: a namespace of its own, nftables with
 * NAT and redirect, something listening on --port (inbound). */
int pxf_supported(struct fault *f, struct pxf *x, struct duress_err *err);
/* Whose network namespace the target shares ("the agent's", "the host's
 * (PID 1)"), where a redirect would take the host's traffic; NULL if it
 * has its own.  x->netns_ino must be set. */
const char *pxf_shared_netns(const struct pxf *x);
/* plan: where the proxy goes and the redirect, as plan lines. */
int pxf_plan(struct fault *f, struct pxf *x, struct duress_err *err);
/* apply: listener, helper (running filter/filter_arg), redirect. */
int pxf_apply(struct fault *f, struct pxf *x, struct duress_err *err);
/* tick: the helper's counters, its death (restarted, or an error once). */
int pxf_tick(struct fault *f, struct pxf *x, struct duress_err *err);
/* report: mode, table, restarts, and the counters under the filter's name. */
void pxf_report(struct fault *f, struct pxf *x, json_t *summary);
/* sample: the counters into a sample ("http": {...}). */
void pxf_sample(struct fault *f, struct pxf *x, json_t *sample);
void pxf_release(struct pxf *x);

#endif
