// SPDX-License-Identifier: MIT
/* What the proxy faults share; see include/duress/faults/proxyfault.h. */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/faults/proxyfault.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const pxf_global_opts[] = { "port",	    "direction", "to", "listen",
					"upstream", "rule",	 NULL };

void pxf_init(struct pxf *x)
{
	if (x->inited)
		return;
	x->inited = true;
	x->listen_fd = -1;
}

int pxf_validate(struct fault *f, struct pxf *x, struct duress_err *err)
{
	const struct fault_val *port = fault_opt(f, "port"), *dir = fault_opt(f, "direction"),
			       *to = fault_opt(f, "to"), *lis = fault_opt(f, "listen"),
			       *up = fault_opt(f, "upstream");

	pxf_init(x);
	snprintf(x->helper_name, sizeof(x->helper_name), "duress-%s", f->desc->name);
	if (lis->set || up->set) {
		if (!lis->set || !up->set)
			return fault_usage(
				err, "%s: --listen and --upstream go together (an explicit proxy)",
				f->desc->name);
		if (port->set || dir->set || to->set)
			return fault_usage(
				err,
				"%s: --%s is for a transparent proxy (-t TARGET --port N); "
				"an explicit one (--listen/--upstream) redirects nothing",
				f->desc->name,
				port->set  ? "port"
				: dir->set ? "direction"
					   : "to");
		if (proxy_parse_addr(lis->s, "--listen", &x->listen_addr, &x->listen_len, err) <
			    0 ||
		    proxy_parse_addr(up->s, "--upstream", &x->upstream, &x->upstream_len, err) < 0)
			return -1;
		x->explicit_mode = true;
		return 0;
	}
	if (!port->set)
		return fault_usage(err,
				   "%s: --port N is required (the connections to redirect), or "
				   "--listen ADDR:PORT --upstream ADDR:PORT for an explicit proxy",
				   f->desc->name);
	x->port = (uint16_t)port->u;
	x->inbound = !dir->set || dir->choice == 0;
	if (to->nlist && x->inbound)
		return fault_usage(err,
				   "--to: only with --direction outbound (it picks the target's "
				   "dependencies by address)");
	if (to->nlist > NFT_MAX_CIDRS)
		return fault_usage(err, "--to: at most %d addresses", NFT_MAX_CIDRS);
	for (size_t i = 0; i < to->nlist; i++)
		if (ns_parse_cidr(to->list[i], "--to", &x->cidrs[x->ncidrs++], err) < 0)
			return -1;
	return 0;
}

bool pxf_no_target(const struct fault *f)
{
	return fault_opt(f, "listen")->set;
}

/* ---- checks ---- */

/* Does anything listen on TCP port in the namespace of pid? 1, 0, -1. */
static int listening(pid_t pid, uint16_t port)
{
	static const char *const files[] = { "tcp", "tcp6" };
	int found = 0, read_any = 0;

	for (size_t k = 0; k < 2 && !found; k++) {
		char path[64], line[512];
		cleanup_fclose FILE *fp = NULL;

		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, files[k]);
		fp = fopen(path, "re");
		if (!fp)
			continue;
		read_any = 1;
		while (fgets(line, sizeof(line), fp)) {
			unsigned lp, st;

			if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lp, &st) ==
				    2 &&
			    st == 0x0A && lp == port) {
				found = 1;
				break;
			}
		}
	}
	return read_any ? found : -1;
}

/* Connect to addr within timeout: 0, or errno. */
static int try_connect(const struct sockaddr_storage *a, socklen_t len, int timeout_ms)
{
	cleanup_close int fd = socket(a->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd p;
	socklen_t el = sizeof(int);
	int e = 0;

	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)a, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, timeout_ms) <= 0)
		return ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		return errno;
	return e;
}

const char *pxf_shared_netns(const struct pxf *x)
{
	unsigned long long self = 0, init = 0;
	struct stat st;

	netshape_self_ino(&self);
	if (stat("/proc/1/ns/net", &st) == 0)
		init = (unsigned long long)st.st_ino;
	return x->netns_ino == self   ? "the agent's"
	       : x->netns_ino == init ? "the host's (PID 1)"
				      : NULL;
}

static int shared_namespace(struct fault *f, struct pxf *x, struct duress_err *err)
{
	const char *whose = f->force ? NULL : pxf_shared_netns(x);

	if (!whose)
		return 0;
	return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
			       "%s: the target has no network namespace of its own (it shares %s, "
			       "net:[%llu]): a redirect there would take every connection to port "
			       "%u on this host; use an explicit proxy (--listen ADDR:PORT "
			       "--upstream ADDR:PORT) or --force",
			       f->desc->name, whose, x->netns_ino, x->port);
}

int pxf_supported(struct fault *f, struct pxf *x, struct duress_err *err)
{
	char a[INET6_ADDRSTRLEN + 8];
	int e;

	if (x->explicit_mode) {
		uint16_t bound;

		if (x->listen_fd < 0 &&
		    proxy_listen(-1, (struct sockaddr *)&x->listen_addr, x->listen_len,
				 &x->listen_fd, &bound, "--listen", err) < 0)
			return -1;
		x->listen_port = bound;
		e = try_connect(&x->upstream, x->upstream_len, PXF_UPSTREAM_CHECK_MS);
		if (e)
			return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, e,
					       "--upstream %s: nothing answers there",
					       proxy_format_addr((struct sockaddr *)&x->upstream, a,
								 sizeof(a)));
		return 0;
	}
	if (f->target->netns_fd < 0 || f->target->pid <= 0)
		return duress_err_setc(
			err, DURESS_EXIT_UNSUPPORTED, 0,
			"%s: the target has no process, hence no network namespace to "
			"redirect in (an explicit proxy needs none: --listen/--upstream)",
			f->desc->name);
	if (netshape_fd_ino(f->target->netns_fd, &x->netns_ino) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "%s: the target's network namespace", f->desc->name);
	if (shared_namespace(f, x, err) < 0)
		return -1;
	if (nft_probe(true, false, err) < 0)
		return duress_err_wrap(err, "%s: the redirect needs nftables with NAT",
				       f->desc->name);
	if (x->inbound && listening(f->target->pid, x->port) == 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "--port %u: nothing listens on TCP port %u in the target's "
				       "network namespace (pid %d): no connection would reach the "
				       "proxy (outbound connections: --direction outbound)",
				       x->port, x->port, (int)f->target->pid);
	return 0;
}

int pxf_plan(struct fault *f, struct pxf *x, struct duress_err *err)
{
	char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8], to[1024] = "";

	if (x->explicit_mode) {
		fault_plan_add(f,
			       "start the %s proxy (process %s) listening on %s, forwarding to %s; "
			       "no redirect",
			       f->desc->name, x->helper_name,
			       proxy_format_addr((struct sockaddr *)&x->listen_addr, a, sizeof(a)),
			       proxy_format_addr((struct sockaddr *)&x->upstream, b, sizeof(b)));
		fault_plan_add(f, "revert: end the proxy");
		return 0;
	}
	if (netshape_ref_make(f->target->pid, f->target->netns_fd, x->ref, sizeof(x->ref), err) < 0)
		return -1;
	nft_table_name(f->desc->name, x->table, sizeof(x->table));
	for (size_t i = 0; i < x->ncidrs; i++) {
		size_t n = strlen(to);
		char c[64];

		snprintf(to + n, sizeof(to) - n, "%s%s", i ? ", " : " to ",
			 ns_format_cidr(&x->cidrs[i], c, sizeof(c)));
	}
	fault_plan_add(f,
		       "start the %s proxy (process %s) inside the target's network namespace "
		       "net:[%llu], listening on a port of its own",
		       f->desc->name, x->helper_name, x->netns_ino);
	fault_plan_add(f,
		       "nftables table inet %s in net:[%llu]: %s: tcp dport %u%s redirect to "
		       "the proxy (its own connections, marked 0x%08x, excluded)",
		       x->table, x->netns_ino,
		       x->inbound ? "nat prerouting (connections coming in)"
				  : "nat output (connections going out)",
		       x->port, to, PROXY_MARK);
	fault_plan_add(f, "revert: delete table inet %s, then end the proxy", x->table);
	return 0;
}

/* ---- the helper ---- */

static void hook_ready(void *arg)
{
	fault_helper_send(*(int *)arg, "ready", NULL, NULL);
}

static void hook_report(json_t *stats, void *arg)
{
	fault_helper_send(*(int *)arg, "stats", stats, NULL);
}

static void hook_event(const char *msg, void *arg)
{
	fault_helper_send(*(int *)arg, "event", NULL, msg);
}

static int helper_main(void *arg, int ctl)
{
	struct pxf *x = arg;
	struct proxy_config cfg = { .listen_fd = x->listen_fd,
				    .filter = x->filter,
				    .filter_arg = x->filter_arg };
	struct proxy_hooks hooks = { hook_ready, hook_report, hook_event, &ctl };
	struct duress_err err = { 0 };

	if (x->explicit_mode) {
		memcpy(&cfg.upstream, &x->upstream, x->upstream_len);
		cfg.upstream_len = x->upstream_len;
	} else {
		cfg.transparent = true;
		cfg.mark = PROXY_MARK;
	}
	if (getenv("DURESS_PROXY_NO_SPLICE"))
		cfg.no_splice = true;
	if (x->filter_init)
		x->filter_init(x->filter_arg);
	if (proxy_serve(&cfg, ctl, &hooks, &err) < 0) {
		fault_helper_send(ctl, "error", NULL, err.msg);
		return DURESS_EXIT_INTERNAL;
	}
	return 0;
}

int pxf_apply(struct fault *f, struct pxf *x, struct duress_err *err)
{
	struct fault_helper_spec spec = { .main = helper_main,
					  .arg = x,
					  .netns_fd = -1,
					  .max_restarts = PXF_MAX_RESTARTS,
					  .ready_timeout_us = PXF_READY_TIMEOUT_US };
	struct nft_redirect r = { .l4proto = IPPROTO_TCP,
				  .inbound = x->inbound,
				  .port = x->port,
				  .skip_mark = PROXY_MARK,
				  .cidrs = x->cidrs,
				  .ncidrs = x->ncidrs };

	spec.name = x->helper_name;
	if (!x->explicit_mode) {
		/* the listener in the target's namespace, on a port of its own;
		 * held by the agent, so a restarted helper gets the same one */
		if (proxy_listen(f->target->netns_fd, NULL, 0, &x->listen_fd, &x->listen_port,
				 "proxy listener", err) < 0)
			return duress_err_wrap(err, "%s", f->desc->name);
		spec.netns_fd = f->target->netns_fd;
	} else if (x->listen_fd < 0 &&
		   proxy_listen(-1, (struct sockaddr *)&x->listen_addr, x->listen_len,
				&x->listen_fd, &x->listen_port, "--listen", err) < 0) {
		return -1;
	}
	spec.keep_fds[0] = x->listen_fd;
	spec.nkeep = 1;
	if (fault_helper_start(f, &x->helper, &spec, err) < 0)
		return duress_err_wrap(err, "%s: start the proxy", f->desc->name);
	x->helper_started = true;
	if (x->explicit_mode)
		return 0;
	/* the redirect, journaled before it is made */
	r.to_port = x->listen_port;
	if (nft_open(f->target->netns_fd, &x->nft, err) < 0)
		return duress_err_wrap(err, "%s", f->desc->name);
	if (undo_record(f->undo, &undo_kind_nft_table, f->desc->name, x->ref, x->table, "inet",
			err) < 0)
		return -1;
	if (nft_redirect_add(x->nft, x->table, &r, err) < 0)
		return duress_err_wrap(err, "%s: redirect port %u", f->desc->name, x->port);
	return 0;
}

int pxf_tick(struct fault *f, struct pxf *x, struct duress_err *err)
{
	if (!x->helper_started)
		return 0;
	if (fault_helper_poll(&x->helper, err) < 0) {
		if (x->failed_said)
			return 0;
		x->failed_said = true;
		snprintf(x->error, sizeof(x->error), "%.500s", err->msg);
		return duress_err_wrap(err, "%s: the proxy is gone (connections to it now fail)",
				       f->desc->name);
	}
	return 0;
}

void pxf_report(struct fault *f, struct pxf *x, json_t *summary)
{
	char a[INET6_ADDRSTRLEN + 8];
	json_t *c;
	const char *k;
	json_t *v;

	/* after the revert ended the proxy: its final counters */
	if (x->helper_started)
		fault_helper_collect(&x->helper);
	c = fault_helper_counters(&x->helper);

	json_object_set_new(summary, "mode",
			    json_string(x->explicit_mode ? "explicit" : "transparent"));
	if (x->explicit_mode) {
		json_object_set_new(summary, "listen",
				    json_string(proxy_format_addr(
					    (struct sockaddr *)&x->listen_addr, a, sizeof(a))));
		json_object_set_new(summary, "upstream",
				    json_string(proxy_format_addr((struct sockaddr *)&x->upstream,
								  a, sizeof(a))));
	} else {
		json_object_set_new(summary, "port", json_integer(x->port));
		json_object_set_new(summary, "direction",
				    json_string(x->inbound ? "inbound" : "outbound"));
		json_object_set_new(summary, "table", json_string(x->table));
		json_object_set_new(summary, "proxy_port", json_integer(x->listen_port));
	}
	json_object_set_new(summary, "proxy_restarts", json_integer(x->helper.restarts));
	if (x->error[0])
		json_object_set_new(summary, "proxy_error", json_string(x->error));
	json_object_foreach(c, k, v)
		json_object_set(summary, k, v);
	json_decref(c);
	(void)f;
}

void pxf_sample(struct fault *f, struct pxf *x, json_t *sample)
{
	(void)f;
	fault_helper_sample(&x->helper, sample);
}

void pxf_release(struct pxf *x)
{
	if (!x->inited)
		return;
	if (x->helper_started)
		fault_helper_release(&x->helper);
	x->helper_started = false;
	if (x->listen_fd >= 0)
		close(x->listen_fd);
	x->listen_fd = -1;
	nft_close(x->nft);
	x->nft = NULL;
}
