// SPDX-License-Identifier: MIT
/*
 * The netlink socket of the network fault (netshape.h): opened in the
 * target's network namespace, one request and its answers, dumps of links,
 * qdiscs and filters, the links we make.  Messages are built with libnl
 * (nl_msg, nla_put) and sent on a libnl socket; links are listed through
 * libnl-route's link cache.  The qdisc trees are qdisc.c's.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/net/netshape.h>
#include <duress/core/undo.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/gen_stats.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/tc_act/tc_mirred.h>

#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define NS_MSG_SIZE 65536

struct netshape {
	struct nl_sock *sk;
	unsigned long long ino;
};

void netshape_nlmsg_freep(struct nl_msg **m)
{
	if (*m)
		nlmsg_free(*m);
}

void netshape_closep(struct netshape **ns)
{
	if (*ns)
		netshape_close(*ns);
}

static void nl_cache_freep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
}
#define cleanup_nlcache __attribute__((cleanup(nl_cache_freep)))

/* libnl's error numbers back to errno, for messages and callers. */
int netshape_nle_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_PERM:
		return EPERM;
	case NLE_EXIST:
		return EEXIST;
	case NLE_INVAL:
		return EINVAL;
	case NLE_RANGE:
		return ERANGE;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_NODEV:
		return ENODEV;
	case NLE_BUSY:
		return EBUSY;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_AF_NOSUPPORT:
		return EAFNOSUPPORT;
	case NLE_MSGSIZE:
		return EMSGSIZE;
	default:
		return EIO;
	}
}

/* ---- namespaces ---- */

int netshape_fd_ino(int fd, unsigned long long *ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	*ino = (unsigned long long)st.st_ino;
	return 0;
}

int netshape_self_ino(unsigned long long *ino)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st) < 0 && stat("/proc/self/ns/net", &st) < 0)
		return -1;
	*ino = (unsigned long long)st.st_ino;
	return 0;
}

int netshape_ref_make(pid_t pid, int netns_fd, char *buf, size_t len, struct duress_err *err)
{
	unsigned long long ino;

	if (netns_fd < 0 || pid <= 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "network: the target has no process, hence no network "
				       "namespace to shape");
	if (netshape_fd_ino(netns_fd, &ino) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "network: the target's network namespace");
	snprintf(buf, len, "/proc/%d/ns/net@%llu", (int)pid, ino);
	return 0;
}

/* Open path if it is the namespace with inode ino. */
static int open_if_ino(const char *path, unsigned long long ino)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0 || (unsigned long long)st.st_ino != ino)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (unsigned long long)st.st_ino != ino) {
		close(fd);
		return -1;
	}
	return fd;
}

int netshape_ref_open(const char *ref, int *fd, bool *gone, struct duress_err *err)
{
	unsigned long long ino;
	char path[PATH_MAX];
	pid_t pid;
	DIR *d;
	struct dirent *de;

	*gone = false;
	*fd = -1;
	if (ns_ref_parse(ref, &pid, &ino) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				       "network namespace reference '%s': expected "
				       "/proc/PID/ns/net@INODE",
				       ref);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	*fd = open_if_ino(path, ino);
	if (*fd >= 0)
		return 0;
	/* the process is gone: any other process in that namespace will do */
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		*fd = open_if_ino(path, ino);
		if (*fd >= 0)
			break;
	}
	if (d)
		closedir(d);
	if (*fd >= 0)
		return 0;
	/* or a bind mount (ip netns) */
	d = opendir("/run/netns");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		*fd = open_if_ino(path, ino);
		if (*fd >= 0)
			break;
	}
	if (d)
		closedir(d);
	if (*fd < 0)
		*gone = true;
	return 0;
}

/* ---- the socket, opened on a thread of its own in the namespace ---- */

struct open_job {
	int netns_fd; /* enter this, or -1: a new namespace of its own */
	struct nl_sock *sk;
	int errnum;
	const char *step;
	/* a check runs on the thread, in the private namespace */
	int (*check)(struct netshape *ns, void *arg, struct duress_err *err);
	void *check_arg;
	struct duress_err check_err;
	int check_rc;
};

static struct nl_sock *socket_here(int *errnum, const char **step)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1, r;

	if (!sk) {
		*errnum = ENOMEM;
		*step = "allocate a netlink socket";
		return NULL;
	}
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		*errnum = netshape_nle_errno(r);
		*step = "connect a netlink socket";
		nl_socket_free(sk);
		return NULL;
	}
	nl_socket_disable_auto_ack(sk);
	nl_socket_enable_msg_peek(sk);
	nl_socket_set_buffer_size(sk, 1 << 20, 1 << 20);
	/* the kernel's own explanation of a refusal, without the request echoed */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return sk;
}

static void *open_thread(void *arg)
{
	struct open_job *j = arg;

	if (j->netns_fd >= 0) {
		if (setns(j->netns_fd, CLONE_NEWNET) < 0) {
			j->errnum = errno;
			j->step = "enter the target's network namespace (setns)";
			return NULL;
		}
	} else if (unshare(CLONE_NEWNET) < 0) {
		j->errnum = errno;
		j->step = "make a private network namespace (unshare)";
		return NULL;
	}
	j->sk = socket_here(&j->errnum, &j->step);
	if (j->sk && j->check) {
		struct netshape ns = { .sk = j->sk };

		j->check_rc = j->check(&ns, j->check_arg, &j->check_err);
		nl_socket_free(j->sk);
		j->sk = NULL;
	}
	/* this thread ends here: its namespace goes with it */
	return NULL;
}

static int run_open_thread(struct open_job *j, struct duress_err *err)
{
	unsigned long long before = 0, after = 0;
	pthread_t th;
	int r;

	if (netshape_self_ino(&before) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "network: read the agent's own network namespace");
	r = pthread_create(&th, NULL, open_thread, j);
	if (r)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, r,
				       "network: start the namespace thread");
	pthread_join(th, NULL);
	if (netshape_self_ino(&after) < 0 || after != before) {
		if (j->sk)
			nl_socket_free(j->sk);
		j->sk = NULL;
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
				       "network: the agent's own network namespace changed while "
				       "opening the target's (%llu -> %llu): refusing to go on",
				       before, after);
	}
	if (j->errnum)
		return duress_err_setc(
			err, j->errnum == EPERM ? DURESS_EXIT_UNSUPPORTED : DURESS_EXIT_INTERNAL,
			j->errnum, "network: %s", j->step);
	return 0;
}

int netshape_check_private(int (*check)(struct netshape *ns, void *arg, struct duress_err *err),
			   void *arg, struct duress_err *err)
{
	struct open_job j = { .netns_fd = -1, .check = check, .check_arg = arg };

	if (run_open_thread(&j, err) < 0)
		return -1;
	if (j.check_rc < 0) {
		*err = j.check_err;
		return -1;
	}
	return 0;
}

int netshape_open(int netns_fd, struct netshape **out, struct duress_err *err)
{
	struct open_job j = { .netns_fd = netns_fd };
	unsigned long long want, got;
	struct netshape *ns;
	int skns;

	if (netns_fd < 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "network: the target has no network namespace handle (no "
				       "process)");
	if (netshape_fd_ino(netns_fd, &want) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "network: the target's network namespace");
	if (run_open_thread(&j, err) < 0)
		return -1;
	/* the socket must live in the target's namespace, never in ours */
	skns = ioctl(nl_socket_get_fd(j.sk), SIOCGSKNS);
	if (skns < 0 || netshape_fd_ino(skns, &got) < 0 || got != want) {
		int e = errno;

		if (skns >= 0)
			close(skns);
		nl_socket_free(j.sk);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, skns < 0 ? e : 0,
				       "network: the netlink socket is not in the target's "
				       "namespace (net:[%llu]): refusing to go on",
				       want);
	}
	close(skns);
	ns = calloc(1, sizeof(*ns));
	if (!ns) {
		nl_socket_free(j.sk);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network");
	}
	ns->sk = j.sk;
	ns->ino = want;
	*out = ns;
	return 0;
}

int netshape_open_ref(const char *ref, struct netshape **out, bool *gone, struct duress_err *err)
{
	cleanup_close int fd = -1;

	*out = NULL;
	if (netshape_ref_open(ref, &fd, gone, err) < 0)
		return -1;
	if (*gone)
		return 0;
	return netshape_open(fd, out, err);
}

void netshape_close(struct netshape *ns)
{
	if (!ns)
		return;
	nl_socket_free(ns->sk);
	free(ns);
}

unsigned long long netshape_ino(const struct netshape *ns)
{
	return ns->ino;
}

/* ---- one request, its answers ---- */

/* The kernel's extended ack message (NLMSGERR_ATTR_MSG), if any. */
static void extack_msg(struct nlmsghdr *h, char *out, size_t len)
{
	struct nlmsgerr *e = nlmsg_data(h);
	size_t off = sizeof(*e);
	struct nlattr *a;
	int rem;

	out[0] = '\0';
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len > NLMSG_HDRLEN
			       ? NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN
			       : 0;
	if (NLMSG_HDRLEN + off >= h->nlmsg_len)
		return;
	a = (struct nlattr *)((char *)e + off);
	rem = (int)(h->nlmsg_len - NLMSG_HDRLEN - off);
	for (; nla_ok(a, rem); a = nla_next(a, &rem)) {
		if (nla_type(a) == NLMSGERR_ATTR_MSG) {
			snprintf(out, len, "%.*s", nla_len(a), (char *)nla_data(a));
			out[strcspn(out, "\n")] = '\0';
			if (*out && out[strlen(out) - 1] == '\0')
				out[strlen(out) - 1] = '\0';
			return;
		}
	}
}

/*
 * Send msg and read until its ack (or the end of the dump), calling cb on
 * every answer.  Returns 0, or -errno of the kernel's refusal with its
 * explanation in kmsg.
 */
int netshape_talk_raw(struct netshape *ns, struct nl_msg *msg, netshape_msg_cb cb, void *arg,
		      char *kmsg, size_t kmsglen)
{
	uint32_t seq;
	int r;

	kmsg[0] = '\0';
	r = nl_send_auto(ns->sk, msg);
	if (r < 0)
		return -netshape_nle_errno(r);
	seq = nlmsg_hdr(msg)->nlmsg_seq;
	for (;;) {
		struct sockaddr_nl nla;
		unsigned char *buf = NULL;
		struct nlmsghdr *h;
		int n = nl_recv(ns->sk, &nla, &buf, NULL);
		int rc = 1;

		if (n <= 0) {
			free(buf);
			return n < 0 ? -netshape_nle_errno(n) : -EIO;
		}
		h = (struct nlmsghdr *)buf;
		for (; nlmsg_ok(h, n); h = nlmsg_next(h, &n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				rc = 0;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = nlmsg_data(h);

				if (e->error)
					extack_msg(h, kmsg, kmsglen);
				rc = e->error ? e->error : 0;
				if (rc > 0)
					rc = -rc;
				break;
			}
			if (h->nlmsg_type == NLMSG_NOOP || h->nlmsg_type == NLMSG_OVERRUN)
				continue;
			if (cb && cb(h, arg) < 0) {
				rc = -ENOMEM;
				break;
			}
		}
		free(buf);
		if (rc <= 0)
			return rc;
	}
}

int netshape_talk(struct netshape *ns, struct nl_msg *msg, netshape_msg_cb cb, void *arg,
		  struct duress_err *err, const char *fmt, ...)
{
	char what[512], kmsg[256];
	va_list ap;
	int r = netshape_talk_raw(ns, msg, cb, arg, kmsg, sizeof(kmsg));

	if (r == 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (kmsg[0])
		duress_err_setc(err, DURESS_EXIT_INTERNAL, -r, "%s: the kernel says '%s'", what,
				kmsg);
	else
		duress_err_setc(err, DURESS_EXIT_INTERNAL, -r, "%s", what);
	return r;
}

struct nl_msg *netshape_tc_msg(int type, int flags, int ifindex, uint32_t parent, uint32_t handle,
			       uint32_t info)
{
	struct tcmsg t = {
		.tcm_family = AF_UNSPEC,
		.tcm_ifindex = ifindex,
		.tcm_parent = parent,
		.tcm_handle = handle,
		.tcm_info = info,
	};
	struct nl_msg *m = nlmsg_alloc_size(NS_MSG_SIZE);

	if (!m)
		return NULL;
	if (!nlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, type, 0, flags | NLM_F_REQUEST) ||
	    nlmsg_append(m, &t, sizeof(t), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(m);
		return NULL;
	}
	return m;
}

/* A nest without NLA_F_NESTED: TCA_OPTIONS of several qdiscs starts with a
 * structure, not attributes. */
struct nlattr *netshape_nest_open(struct nl_msg *m, int type)
{
	struct nlattr *a = nlmsg_tail(nlmsg_hdr(m));

	if (nla_put(m, type, 0, NULL) < 0)
		return NULL;
	return a;
}

void netshape_nest_close(struct nl_msg *m, struct nlattr *a)
{
	a->nla_len = (uint16_t)((char *)nlmsg_tail(nlmsg_hdr(m)) - (char *)a);
}

/* ---- links ---- */

int netshape_links(struct netshape *ns, struct ns_link **out, size_t *n, struct duress_err *err)
{
	cleanup_nlcache struct nl_cache *cache = NULL;
	struct ns_link *v;
	size_t i = 0;
	int r = rtnl_link_alloc_cache(ns->sk, AF_UNSPEC, &cache);

	if (r < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, netshape_nle_errno(r),
				       "network: list the links of net:[%llu]", ns->ino);
	v = calloc((size_t)nl_cache_nitems(cache) + 1, sizeof(*v));
	if (!v)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: links");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *kind = rtnl_link_get_type(l);
		struct ns_link *d = &v[i++];

		d->ifindex = rtnl_link_get_ifindex(l);
		snprintf(d->name, sizeof(d->name), "%s", rtnl_link_get_name(l) ?: "");
		snprintf(d->kind, sizeof(d->kind), "%s", kind ? kind : "");
		d->flags = rtnl_link_get_flags(l);
		d->rx_packets = rtnl_link_get_stat(l, RTNL_LINK_RX_PACKETS);
		d->tx_packets = rtnl_link_get_stat(l, RTNL_LINK_TX_PACKETS);
		d->rx_bytes = rtnl_link_get_stat(l, RTNL_LINK_RX_BYTES);
		d->tx_bytes = rtnl_link_get_stat(l, RTNL_LINK_TX_BYTES);
		d->rx_dropped = rtnl_link_get_stat(l, RTNL_LINK_RX_DROPPED);
		d->tx_dropped = rtnl_link_get_stat(l, RTNL_LINK_TX_DROPPED);
	}
	*out = v;
	*n = i;
	return 0;
}

int netshape_link_find(struct netshape *ns, const char *name, struct ns_link *out,
		       struct duress_err *err)
{
	cleanup_free struct ns_link *links = NULL;
	size_t n;

	if (netshape_links(ns, &links, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(links[i].name, name)) {
			*out = links[i];
			return 0;
		}
	}
	return 1;
}

/* ---- qdisc dumps ---- */

struct qdisc_dump {
	int ifindex;
	struct ns_qdisc *v;
	size_t n, cap;
};

static void read_stats2(struct nlattr *a, struct ns_qdisc *q)
{
	struct nlattr *s;
	int rem;

	nla_for_each_nested(s, a, rem) {
		switch (nla_type(s)) {
		case TCA_STATS_BASIC: {
			struct gnet_stats_basic b = { 0 };

			memcpy(&b, nla_data(s),
			       (size_t)nla_len(s) < sizeof(b) ? (size_t)nla_len(s) : sizeof(b));
			q->bytes = b.bytes;
			if (!q->packets)
				q->packets = b.packets;
			q->has_stats = true;
			break;
		}
		case TCA_STATS_PKT64:
			if (nla_len(s) >= 8)
				q->packets = nla_get_u64(s);
			break;
		case TCA_STATS_QUEUE: {
			struct gnet_stats_queue qs = { 0 };

			memcpy(&qs, nla_data(s),
			       (size_t)nla_len(s) < sizeof(qs) ? (size_t)nla_len(s) : sizeof(qs));
			q->qlen = qs.qlen;
			q->backlog = qs.backlog;
			q->drops = qs.drops;
			q->requeues = qs.requeues;
			q->overlimits = qs.overlimits;
			break;
		}
		default:
			break;
		}
	}
}

static int qdisc_cb(struct nlmsghdr *h, void *arg)
{
	struct qdisc_dump *d = arg;
	struct tcmsg *t = nlmsg_data(h);
	struct ns_qdisc *q;
	struct nlattr *a;
	int rem;

	if (h->nlmsg_type != RTM_NEWQDISC || t->tcm_ifindex != d->ifindex)
		return 0;
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		struct ns_qdisc *nv = realloc(d->v, ncap * sizeof(*nv));

		if (!nv)
			return -1;
		d->v = nv;
		d->cap = ncap;
	}
	q = &d->v[d->n];
	memset(q, 0, sizeof(*q));
	q->ifindex = t->tcm_ifindex;
	q->parent = t->tcm_parent;
	q->handle = t->tcm_handle;
	q->attrs = malloc(h->nlmsg_len);
	if (!q->attrs)
		return -1;
	d->n++;
	nlmsg_for_each_attr(a, h, sizeof(*t), rem)
	{
		switch (nla_type(a)) {
		case TCA_KIND:
			snprintf(q->kind, sizeof(q->kind), "%.*s", nla_len(a), (char *)nla_data(a));
			break;
		case TCA_OPTIONS:
		case TCA_INGRESS_BLOCK:
		case TCA_EGRESS_BLOCK:
			/* the configuration: kept byte for byte */
			memcpy(q->attrs + q->attrs_len, a, NLA_ALIGN(a->nla_len));
			q->attrs_len += NLA_ALIGN(a->nla_len);
			break;
		case TCA_STAB:
			q->has_stab = true;
			break;
		case TCA_STATS2:
			read_stats2(a, q);
			break;
		default:
			break;
		}
	}
	return 0;
}

void netshape_qdiscs_free(struct ns_qdisc *q, size_t n)
{
	for (size_t i = 0; q && i < n; i++)
		free(q[i].attrs);
	free(q);
}

int netshape_qdiscs(struct netshape *ns, int ifindex, struct ns_qdisc **out, size_t *n,
		    struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m =
		netshape_tc_msg(RTM_GETQDISC, NLM_F_DUMP, ifindex, 0, 0, 0);
	struct qdisc_dump d = { .ifindex = ifindex };

	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: qdisc dump");
	if (netshape_talk(ns, m, qdisc_cb, &d, err, "network: list the qdiscs of ifindex %d",
			  ifindex) < 0) {
		netshape_qdiscs_free(d.v, d.n);
		return -1;
	}
	*out = d.v;
	*n = d.n;
	return 0;
}

static int pref_cb(struct nlmsghdr *h, void *arg)
{
	struct tcmsg *t = nlmsg_data(h);
	struct netshape_prefs *p = arg;
	uint16_t pref = (uint16_t)(TC_H_MAJ(t->tcm_info) >> 16);

	if (h->nlmsg_type != RTM_NEWTFILTER)
		return 0;
	for (size_t i = 0; i < p->n && i < DURESS_ARRAY_SIZE(p->prefs); i++)
		if (p->prefs[i] == pref)
			return 0;
	if (p->n < DURESS_ARRAY_SIZE(p->prefs))
		p->prefs[p->n] = pref;
	p->n++;
	if (pref >= p->lo && pref <= p->hi)
		p->in_range++;
	return 0;
}

/* Filters attached at parent (a qdisc handle, or the ingress hook). */
int netshape_filter_scan(struct netshape *ns, int ifindex, uint32_t parent,
			 struct netshape_prefs *p, struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m =
		netshape_tc_msg(RTM_GETTFILTER, NLM_F_DUMP, ifindex, parent, 0, 0);
	char ph[16];
	int r;

	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: filter dump");
	r = netshape_talk(ns, m, pref_cb, p, err, "network: list the filters of ifindex %d at %s",
			  ifindex, ns_handle_str(parent, ph, sizeof(ph)));
	/* a qdisc without filters support answers EOPNOTSUPP or EINVAL */
	if (r == -EOPNOTSUPP || r == -EINVAL || r == -ENOENT)
		return 0;
	return r < 0 ? -1 : 0;
}

/* ---- links we make ---- */

static struct nl_msg *link_msg(int type, int flags, int ifindex, unsigned iff, unsigned change)
{
	struct ifinfomsg i = {
		.ifi_family = AF_UNSPEC,
		.ifi_index = ifindex,
		.ifi_flags = iff,
		.ifi_change = change,
	};
	struct nl_msg *m = nlmsg_alloc_size(4096);

	if (!m)
		return NULL;
	if (!nlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, type, 0, flags | NLM_F_REQUEST | NLM_F_ACK) ||
	    nlmsg_append(m, &i, sizeof(i), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(m);
		return NULL;
	}
	return m;
}

int netshape_add_ifb(struct netshape *ns, const char *name, int *ifindex, struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0, 0);
	cleanup_nlmsg struct nl_msg *up = NULL;
	struct nlattr *info;
	struct ns_link l;
	int r;

	if (!m || nla_put_string(m, IFLA_IFNAME, name) < 0 ||
	    !(info = netshape_nest_open(m, IFLA_LINKINFO)) ||
	    nla_put_string(m, IFLA_INFO_KIND, "ifb") < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: build ifb");
	netshape_nest_close(m, info);
	if (netshape_talk(ns, m, NULL, NULL, err, "network: create ifb device %s", name) < 0) {
		if (err->errnum == EOPNOTSUPP)
			err->code = DURESS_EXIT_UNSUPPORTED;
		return -1;
	}
	r = netshape_link_find(ns, name, &l, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENODEV,
				       "network: ifb device %s vanished after creation", name);
	up = link_msg(RTM_NEWLINK, 0, l.ifindex, IFF_UP, IFF_UP);
	if (!up)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: ifb up");
	if (netshape_talk(ns, up, NULL, NULL, err, "network: set ifb device %s up", name) < 0)
		return -1;
	*ifindex = l.ifindex;
	return 0;
}

int netshape_del_link(struct netshape *ns, const char *name, const char *kind,
		      struct duress_err *err)
{
	cleanup_nlmsg struct nl_msg *m = NULL;
	struct ns_link l;
	char kmsg[256];
	int r = netshape_link_find(ns, name, &l, err);

	if (r)
		return r;
	if (strcmp(l.kind, kind))
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, 0,
				       "network: %s is a '%s' device, not the %s duress made; left "
				       "alone",
				       name, l.kind[0] ? l.kind : "plain", kind);
	m = link_msg(RTM_DELLINK, 0, l.ifindex, 0, 0);
	if (!m)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "network: delete link");
	r = netshape_talk_raw(ns, m, NULL, NULL, kmsg, sizeof(kmsg));
	if (r == -ENODEV)
		return 1;
	if (r < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, -r, "network: delete %s %s%s%s",
				       kind, name, kmsg[0] ? ": the kernel says " : "", kmsg);
	return 0;
}

int netshape_qdisc_stats(struct netshape *ns, int ifindex, uint32_t handle, struct ns_qdisc *out,
			 struct duress_err *err)
{
	struct ns_qdisc *qs = NULL;
	size_t n = 0;
	int rc = 1;

	if (netshape_qdiscs(ns, ifindex, &qs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (qs[i].handle == handle) {
			*out = qs[i];
			out->attrs = NULL;
			out->attrs_len = 0;
			rc = 0;
		}
	}
	netshape_qdiscs_free(qs, n);
	return rc;
}
