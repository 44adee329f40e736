// SPDX-License-Identifier: MIT
/*
 * nftables tables of duress's own, over netlink with libnftnl (messages)
 * and libmnl (the socket), and the undo kind "nft-table".  See
 * include/duress/net/nft.h.
 */
#include <duress/core/cleanup.h>
#include <duress/core/exitcode.h>
#include <duress/core/undo.h>
#include <duress/net/netshape.h>
#include <duress/net/nft.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/sockios.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>

#define NFT_REPLY_TIMEOUT_MS 5000
#define NFT_MSG_ROOM 4096 /* the most one message of ours can take */
#define NFT_LOOPBACK_IFINDEX 1
#define NFT_RECV_SIZE 16384

/* ---- names ---- */

void nft_table_name(const char *fault, char *buf, size_t len)
{
	static unsigned n;
	char clean[24];
	size_t i;

	/* table names stay plain identifiers: nft(8) can name them too */
	for (i = 0; fault[i] && i < sizeof(clean) - 1; i++)
		clean[i] = (fault[i] >= 'a' && fault[i] <= 'z') ||
					   (fault[i] >= '0' && fault[i] <= '9')
				   ? fault[i]
				   : '_';
	clean[i] = '\0';
	snprintf(buf, len, "%s_%s_%d_%u", NFT_TABLE_PREFIX, clean, (int)getpid(), ++n);
}

bool nft_name_ours(const char *name)
{
	size_t n = strlen(NFT_TABLE_PREFIX);

	if (strncmp(name, NFT_TABLE_PREFIX, n) || name[n] != '_' || strlen(name) >= NFT_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* ---- building the batch ---- */

struct batch {
	char *buf;
	size_t size, len;
	uint32_t seq;
	struct nft_label *labels;
	size_t nlabels, maxlabels;
	bool full;
};

/* Room for the next message at b->buf + b->len, or NULL (b->full). */
static char *room(struct batch *b)
{
	if (b->size - b->len < NFT_MSG_ROOM) {
		b->full = true;
		return NULL;
	}
	return b->buf + b->len;
}

static void done_msg(struct batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void label(struct batch *b, const char *what, const char *module)
{
	if (b->nlabels < b->maxlabels)
		b->labels[b->nlabels++] = (struct nft_label){ b->seq, what, module };
}

static void batch_begin(struct batch *b)
{
	char *p = room(b);

	if (p)
		done_msg(b, nftnl_batch_begin(p, b->seq++));
}

static void batch_end(struct batch *b)
{
	char *p = room(b);

	if (p)
		done_msg(b, nftnl_batch_end(p, b->seq++));
}

static void put_table(struct batch *b, const char *name, int type, uint16_t flags, bool owner)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	char *p = room(b);

	if (!t || !p) {
		b->full = true;
		nftnl_table_free(t);
		return;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	if (owner)
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
	label(b, "table", "nf_tables");
	nlh = nftnl_nlmsg_build_hdr(p, (uint16_t)type, NFPROTO_INET, flags | NLM_F_ACK, b->seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	done_msg(b, nlh);
	nftnl_table_free(t);
}

static void put_chain(struct batch *b, const char *table, const char *name, const char *type,
		      uint32_t hook, int32_t prio, const char *module)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	char *p = room(b);

	if (!c || !p) {
		b->full = true;
		nftnl_chain_free(c);
		return;
	}
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	label(b, !strcmp(type, "nat") ? "nat chain" : "filter chain", module);
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE | NLM_F_ACK,
				    b->seq++);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	done_msg(b, nlh);
	nftnl_chain_free(c);
}

/* Expressions, each appended to rule r (NULL-safe: a failed allocation
 * leaves the rule short, and put_rule refuses it). */
static bool expr_fail;

static void add(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (!e) {
		expr_fail = true;
		return;
	}
	nftnl_rule_add_expr(r, e);
}

static struct nftnl_expr *meta(uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	return e;
}

static struct nftnl_expr *cmp(uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	return e;
}

static struct nftnl_expr *payload(uint32_t base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
	return e;
}

static struct nftnl_expr *bitwise_mask(const void *mask, uint32_t len)
{
	static const unsigned char zero[16];
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
	return e;
}

/* meta mark != mark */
static void match_not_mark(struct nftnl_rule *r, uint32_t mark)
{
	if (!mark)
		return;
	add(r, meta(NFT_META_MARK));
	add(r, cmp(NFT_CMP_NEQ, &mark, sizeof(mark)));
}

static void match_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	add(r, meta(NFT_META_L4PROTO));
	add(r, cmp(NFT_CMP_EQ, &proto, 1));
}

/* th dport == port (TCP and UDP keep it at the same offset) */
static void match_dport(struct nftnl_rule *r, uint16_t port)
{
	uint16_t be = htons(port);

	add(r, payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2));
	add(r, cmp(NFT_CMP_EQ, &be, 2));
}

/* The address (source or destination) is inside c (meta nfproto first, so
 * an IPv4 rule never reads an IPv6 header). */
static void match_cidr(struct nftnl_rule *r, const struct ns_cidr *c, bool src)
{
	uint8_t nfproto = c->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	uint32_t alen = c->family == AF_INET ? 4 : 16;
	uint32_t off = c->family == AF_INET ? (src ? 12 : 16) : (src ? 8 : 24);
	unsigned char mask[16] = { 0 };

	add(r, meta(NFT_META_NFPROTO));
	add(r, cmp(NFT_CMP_EQ, &nfproto, 1));
	add(r, payload(NFT_PAYLOAD_NETWORK_HEADER, off, alen));
	for (unsigned i = 0; i < c->prefix; i++)
		mask[i / 8] |= (unsigned char)(0x80 >> (i % 8));
	if (c->prefix < alen * 8)
		add(r, bitwise_mask(mask, alen));
	if (c->prefix)
		add(r, cmp(NFT_CMP_EQ, c->addr, alen));
}

static void match_not_lo(struct nftnl_rule *r, bool in)
{
	uint32_t lo = NFT_LOOPBACK_IFINDEX;

	add(r, meta(in ? NFT_META_IIF : NFT_META_OIF));
	add(r, cmp(NFT_CMP_NEQ, &lo, sizeof(lo)));
}

static void put_rule(struct batch *b, struct nftnl_rule *r, const char *table, const char *chain,
		     const char *what, const char *module)
{
	struct nlmsghdr *nlh;
	char *p = room(b);

	if (!p || expr_fail) {
		b->full = true;
		return;
	}
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	label(b, what, module);
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWRULE, NFPROTO_INET,
				    NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, b->seq++);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	done_msg(b, nlh);
}

static struct nftnl_rule *new_rule(void)
{
	expr_fail = false;
	return nftnl_rule_alloc();
}

static void redirect_rule(struct batch *b, const char *table, const char *chain,
			  const struct nft_redirect *rd, const struct ns_cidr *c)
{
	struct nftnl_rule *r = new_rule();
	struct nftnl_expr *e;
	uint16_t to = htons(rd->to_port);

	if (!r) {
		b->full = true;
		return;
	}
	match_not_mark(r, rd->skip_mark);
	if (c)
		match_cidr(r, c, false);
	match_l4proto(r, (uint8_t)rd->l4proto);
	match_dport(r, rd->port);
	e = nftnl_expr_alloc("immediate");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &to, sizeof(to));
	}
	add(r, e);
	e = nftnl_expr_alloc("redir");
	if (e)
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
	add(r, e);
	put_rule(b, r, table, chain, "redirect rule", "nft_redir");
	nftnl_rule_free(r);
}

static void batch_init(struct batch *b, void *buf, size_t size, uint32_t seq,
		       struct nft_label *labels, size_t *nlabels)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->size = size;
	b->seq = seq;
	b->labels = labels;
	b->maxlabels = labels && nlabels ? *nlabels : 0;
}

static int batch_finish(struct batch *b, size_t *len, size_t *nlabels, struct duress_err *err)
{
	batch_end(b);
	if (b->full)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOBUFS,
				       "nftables: the batch does not fit in %zu bytes", b->size);
	*len = b->len;
	if (nlabels)
		*nlabels = b->nlabels;
	return 0;
}

static int check_cidrs(size_t n, struct duress_err *err)
{
	if (n > NFT_MAX_CIDRS)
		return duress_err_setc(err, DURESS_EXIT_USAGE, 0, "--to: at most %d addresses",
				       NFT_MAX_CIDRS);
	return 0;
}

int nft_build_redirect(void *buf, size_t size, uint32_t seq, const char *table, bool owner,
		       const struct nft_redirect *r, size_t *len, struct nft_label *labels,
		       size_t *nlabels, struct duress_err *err)
{
	const char *chain = r->inbound ? "prerouting" : "output";
	struct batch b;

	if (!nft_name_ours(table))
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				       "nftables: '%s' is not a table name of duress's", table);
	if (r->l4proto != IPPROTO_TCP && r->l4proto != IPPROTO_UDP)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				       "nftables: redirect: protocol %d (tcp or udp only)",
				       r->l4proto);
	if (!r->port || !r->to_port)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				       "nftables: redirect: port 0");
	if (check_cidrs(r->ncidrs, err) < 0)
		return -1;
	batch_init(&b, buf, size, seq, labels, nlabels);
	batch_begin(&b);
	put_table(&b, table, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, owner);
	/* dstnat priority, as nft's "type nat hook prerouting priority dstnat" */
	put_chain(&b, table, chain, "nat", r->inbound ? NF_INET_PRE_ROUTING : NF_INET_LOCAL_OUT,
		  -100, "nft_chain_nat");
	if (r->inbound || !r->ncidrs)
		redirect_rule(&b, table, chain, r, NULL);
	for (size_t i = 0; !r->inbound && i < r->ncidrs; i++)
		redirect_rule(&b, table, chain, r, &r->cidrs[i]);
	return batch_finish(&b, len, nlabels, err);
}

/* tcp flags & rst != 0: accept.  The resets the reject rules send are
 * themselves packets with the peer: a reset our output chain makes for a
 * local connect() comes back in through the input chain (and one made in
 * input goes out through output), where the rules below would drop it. */
static void reset_pass_rule(struct batch *b, const char *table, const char *chain)
{
	struct nftnl_rule *r = new_rule();
	struct nftnl_expr *e;
	uint8_t rst = 0x04, zero = 0;

	if (!r) {
		b->full = true;
		return;
	}
	match_l4proto(r, IPPROTO_TCP);
	add(r, payload(NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1));
	add(r, bitwise_mask(&rst, 1));
	add(r, cmp(NFT_CMP_NEQ, &zero, 1));
	e = nftnl_expr_alloc("immediate");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
	}
	add(r, e);
	put_rule(b, r, table, chain, "reject table: pass resets", "nf_tables");
	nftnl_rule_free(r);
}

static void reject_rule(struct batch *b, const char *table, const char *chain, bool in,
			const struct nft_reject *rj, const struct ns_cidr *c, bool tcp)
{
	struct nftnl_rule *r = new_rule();
	struct nftnl_expr *e;

	if (!r) {
		b->full = true;
		return;
	}
	match_not_mark(r, rj->skip_mark);
	if (c)
		match_cidr(r, c, in);
	else
		match_not_lo(r, in);
	if (tcp)
		match_l4proto(r, IPPROTO_TCP);
	e = nftnl_expr_alloc("reject");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE,
				   tcp ? NFT_REJECT_TCP_RST : NFT_REJECT_ICMPX_UNREACH);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE,
				  tcp ? 0 : NFT_REJECT_ICMPX_PORT_UNREACH);
	}
	add(r, e);
	put_rule(b, r, table, chain, tcp ? "reject rule (tcp reset)" : "reject rule (icmp)",
		 "nft_reject_inet");
	nftnl_rule_free(r);
}

int nft_build_reject(void *buf, size_t size, uint32_t seq, const char *table, bool owner,
		     const struct nft_reject *rj, size_t *len, struct nft_label *labels,
		     size_t *nlabels, struct duress_err *err)
{
	static const char *const chains[] = { "input", "output" };
	struct batch b;

	if (!nft_name_ours(table))
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EINVAL,
				       "nftables: '%s' is not a table name of duress's", table);
	if (check_cidrs(rj->ncidrs, err) < 0)
		return -1;
	batch_init(&b, buf, size, seq, labels, nlabels);
	batch_begin(&b);
	put_table(&b, table, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, owner);
	for (int k = 0; k < 2; k++) {
		bool in = k == 0;

		put_chain(&b, table, chains[k], "filter", in ? NF_INET_LOCAL_IN : NF_INET_LOCAL_OUT,
			  0, "nf_tables");
		reset_pass_rule(&b, table, chains[k]);
		/* TCP first (a reset), then the rest (an ICMP error) */
		for (int tcp = 1; tcp >= 0; tcp--) {
			if (!rj->ncidrs)
				reject_rule(&b, table, chains[k], in, rj, NULL, tcp);
			for (size_t i = 0; i < rj->ncidrs; i++)
				reject_rule(&b, table, chains[k], in, rj, &rj->cidrs[i], tcp);
		}
	}
	return batch_finish(&b, len, nlabels, err);
}

int nft_build_deltable(void *buf, size_t size, uint32_t seq, const char *table, size_t *len,
		       struct duress_err *err)
{
	struct batch b;

	if (!nft_name_ours(table))
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, EPERM,
				       "nftables: refusing to delete table '%s': not one of "
				       "duress's (%s_...)",
				       table, NFT_TABLE_PREFIX);
	batch_init(&b, buf, size, seq, NULL, NULL);
	batch_begin(&b);
	put_table(&b, table, NFT_MSG_DELTABLE, 0, false);
	return batch_finish(&b, len, NULL, err);
}

/* ---- the socket, opened in the namespace ---- */

struct nft {
	struct mnl_socket *nl;
	unsigned long long ino;
	uint32_t seq;
};

/* Owner sockets of the tables we made, kept open until their revert:
 * closing one makes the kernel remove its table. */
#define NFT_MAX_OWNED 16
static struct owned {
	struct mnl_socket *nl;
	unsigned long long ino;
	char table[NFT_NAME_MAX];
} owned[NFT_MAX_OWNED];

struct open_job {
	int netns_fd; /* enter it, or -1: a private namespace of our own */
	struct mnl_socket *nl;
	int errnum;
	const char *step;
	int (*probe)(struct nft *n, void *arg, struct duress_err *err);
	void *probe_arg;
	int probe_rc;
	struct duress_err probe_err;
};

static void *open_thread(void *arg)
{
	struct open_job *j = arg;

	if (j->netns_fd >= 0 ? setns(j->netns_fd, CLONE_NEWNET) : unshare(CLONE_NEWNET)) {
		j->errnum = errno;
		j->step = j->netns_fd >= 0 ? "enter the target's network namespace (setns)"
					   : "make a private network namespace (unshare)";
		return NULL;
	}
	j->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!j->nl) {
		j->errnum = errno;
		j->step = "open a netfilter netlink socket (is nfnetlink available?)";
		return NULL;
	}
	if (mnl_socket_bind(j->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		j->errnum = errno;
		j->step = "bind the netfilter netlink socket";
		mnl_socket_close(j->nl);
		j->nl = NULL;
		return NULL;
	}
	if (j->probe) {
		struct nft n = { .nl = j->nl, .seq = (uint32_t)time(NULL) };

		j->probe_rc = j->probe(&n, j->probe_arg, &j->probe_err);
		mnl_socket_close(j->nl);
		j->nl = NULL;
	}
	/* the thread ends here, and its namespace (if private) with it */
	return NULL;
}

static int run_open_thread(struct open_job *j, struct duress_err *err)
{
	unsigned long long before = 0, after = 0;
	pthread_t th;
	int r;

	if (netshape_self_ino(&before) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "nftables: read the agent's own network namespace");
	r = pthread_create(&th, NULL, open_thread, j);
	if (r)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, r,
				       "nftables: start the namespace thread");
	pthread_join(th, NULL);
	if (netshape_self_ino(&after) < 0 || after != before) {
		if (j->nl)
			mnl_socket_close(j->nl);
		j->nl = NULL;
		return duress_err_setc(
			err, DURESS_EXIT_INTERNAL, 0,
			"nftables: the agent's own network namespace changed (%llu -> "
			"%llu): refusing to go on",
			before, after);
	}
	if (j->errnum)
		return duress_err_setc(err,
				       j->errnum == EPERM || j->errnum == EPROTONOSUPPORT
					       ? DURESS_EXIT_UNSUPPORTED
					       : DURESS_EXIT_INTERNAL,
				       j->errnum, "nftables: %s", j->step);
	return 0;
}

int nft_open(int netns_fd, struct nft **out, struct duress_err *err)
{
	struct open_job j = { .netns_fd = netns_fd };
	unsigned long long want, got;
	struct nft *n;
	int skns;

	if (netns_fd < 0)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, 0,
				       "nftables: no network namespace handle (the target has no "
				       "process)");
	if (netshape_fd_ino(netns_fd, &want) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "nftables: the target's network namespace");
	if (run_open_thread(&j, err) < 0)
		return -1;
	skns = ioctl(mnl_socket_get_fd(j.nl), SIOCGSKNS);
	if (skns < 0 || netshape_fd_ino(skns, &got) < 0 || got != want) {
		int e = errno;

		if (skns >= 0)
			close(skns);
		mnl_socket_close(j.nl);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, skns < 0 ? e : 0,
				       "nftables: the netlink socket is not in the target's "
				       "namespace (net:[%llu]): refusing to go on",
				       want);
	}
	close(skns);
	n = calloc(1, sizeof(*n));
	if (!n) {
		mnl_socket_close(j.nl);
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "nftables");
	}
	n->nl = j.nl;
	n->ino = want;
	n->seq = (uint32_t)time(NULL);
	*out = n;
	return 0;
}

void nft_close(struct nft *n)
{
	if (!n)
		return;
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n);
}

unsigned long long nft_ino(const struct nft *n)
{
	return n->ino;
}

/* ---- talking to the kernel ---- */

struct talk {
	uint32_t first, last; /* seq range of the messages sent */
	size_t want, got;     /* acks expected (messages with NLM_F_ACK), received */
	int errnum;	      /* first error, by seq */
	uint32_t err_seq;
	char extack[256];
};

static void extack_text(const struct nlmsghdr *h, char *out, size_t len)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
	const struct nlattr *attr;
	size_t off = sizeof(*e);

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	mnl_attr_for_each_payload((const void *)((const char *)e + off),
				  h->nlmsg_len - NLMSG_HDRLEN - off)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG)
			snprintf(out, len, "%s", mnl_attr_get_str(attr));
	}
}

static int on_reply(const struct nlmsghdr *h, struct talk *t)
{
	const struct nlmsgerr *e;

	if (h->nlmsg_type != NLMSG_ERROR)
		return 0;
	if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return 0;
	e = mnl_nlmsg_get_payload(h);
	if (h->nlmsg_seq < t->first || h->nlmsg_seq > t->last)
		return 0; /* a late answer to an earlier request */
	t->got++;
	if (e->error && (!t->errnum || h->nlmsg_seq < t->err_seq)) {
		t->errnum = -e->error;
		t->err_seq = h->nlmsg_seq;
		t->extack[0] = '\0';
		extack_text(h, t->extack, sizeof(t->extack));
	}
	return 0;
}

/* Send a batch and read the acks: 0, or the first error's errno in t. */
static int talk(struct nft *n, const void *buf, size_t len, size_t want, uint32_t first,
		uint32_t last, struct talk *t, struct duress_err *err)
{
	char rbuf[NFT_RECV_SIZE];
	int fd = mnl_socket_get_fd(n->nl), one = 1;

	memset(t, 0, sizeof(*t));
	t->first = first;
	t->last = last;
	t->want = want;
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_sendto(n->nl, buf, len) < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno, "nftables: send");
	while (t->got < t->want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int pr = poll(&p, 1, t->errnum ? 200 : NFT_REPLY_TIMEOUT_MS);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			if (t->errnum)
				break; /* the batch failed: the rest may never be acked */
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, ETIMEDOUT,
					       "nftables: no answer from the kernel within %d ms",
					       NFT_REPLY_TIMEOUT_MS);
		}
		r = mnl_socket_recvfrom(n->nl, rbuf, sizeof(rbuf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
					       "nftables: receive");
		}
		for (const struct nlmsghdr *h = (const void *)rbuf; mnl_nlmsg_ok(h, (int)r);
		     h = mnl_nlmsg_next(h, (int *)&r))
			on_reply(h, t);
	}
	return 0;
}

static const struct nft_label *label_of(const struct nft_label *l, size_t n, uint32_t seq)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].seq == seq)
			return &l[i];
	return NULL;
}

/* A kernel refusal as a message; missing features name their module. */
static int refusal(const struct talk *t, const struct nft_label *labels, size_t n,
		   const char *table, struct duress_err *err)
{
	const struct nft_label *l = label_of(labels, n, t->err_seq);
	const char *what = l ? l->what : "batch";
	const char *module = l ? l->module : "nf_tables";
	char why[300] = "";

	if (t->extack[0])
		snprintf(why, sizeof(why), " (%s)", t->extack);
	/* ENOENT for a chain type or an expression the kernel cannot load,
	 * EOPNOTSUPP/EAFNOSUPPORT for a family or a subsystem it lacks */
	if (t->errnum == ENOENT || t->errnum == EOPNOTSUPP || t->errnum == EAFNOSUPPORT ||
	    t->errnum == EPROTONOSUPPORT)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, t->errnum,
				       "nftables: the kernel lacks %s (needed for the %s of table "
				       "%s)%s; load it (modprobe %s) or use a kernel that has it",
				       module, what, table, why, module);
	if (t->errnum == EPERM)
		return duress_err_setc(err, DURESS_EXIT_UNSUPPORTED, t->errnum,
				       "nftables: %s of table %s refused%s (needs CAP_NET_ADMIN in "
				       "the target's network namespace)",
				       what, table, why);
	return duress_err_setc(err, DURESS_EXIT_INTERNAL, t->errnum,
			       "nftables: %s of table %s refused%s", what, table, why);
}

/* A child of the agent (fork without exec: workers, helpers) must not
 * keep an owner socket alive: closing ours would then leave the table, and
 * the revert's own socket may not delete another socket's table. */
static void owned_close_in_child(void)
{
	for (size_t i = 0; i < NFT_MAX_OWNED; i++)
		if (owned[i].nl) {
			mnl_socket_close(owned[i].nl);
			memset(&owned[i], 0, sizeof(owned[i]));
		}
}

static void atfork_once(void)
{
	pthread_atfork(NULL, NULL, owned_close_in_child);
}

static ssize_t free_slot(void)
{
	for (size_t i = 0; i < NFT_MAX_OWNED; i++)
		if (!owned[i].nl)
			return (ssize_t)i;
	return -1;
}

/* The socket now belongs to the table (slot i); n gets a fresh one. */
static void own(struct nft *n, size_t i, const char *table)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, atfork_once);
	owned[i].nl = n->nl;
	owned[i].ino = n->ino;
	snprintf(owned[i].table, sizeof(owned[i].table), "%s", table);
	n->nl = NULL;
}

/* Reopen n's socket after own() took it (same namespace, through the
 * owner socket's namespace: SIOCGSKNS). */
static int reopen(struct nft *n, struct mnl_socket *like, struct duress_err *err)
{
	int nsfd = ioctl(mnl_socket_get_fd(like), SIOCGSKNS);
	struct nft *fresh = NULL;
	int r;

	if (nsfd < 0)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, errno,
				       "nftables: the namespace of the owner socket");
	r = nft_open(nsfd, &fresh, err);
	close(nsfd);
	if (r < 0)
		return -1;
	n->nl = fresh->nl;
	fresh->nl = NULL;
	nft_close(fresh);
	return 0;
}

static int apply_batch(struct nft *n, const char *table, bool reject, const void *spec,
		       bool may_own, struct duress_err *err)
{
	size_t ncidrs = reject ? ((const struct nft_reject *)spec)->ncidrs
			       : ((const struct nft_redirect *)spec)->ncidrs;
	size_t size = NFT_BATCH_MIN + ncidrs * 4 * NFT_MSG_ROOM, len, nl = 4 + 4 * (ncidrs + 1);
	cleanup_free char *buf = calloc(1, size); /* padding between messages goes out too */
	cleanup_free struct nft_label *labels = calloc(nl, sizeof(*labels));
	uint32_t first = n->seq;
	ssize_t slot = may_own ? free_slot() : -1;
	struct talk t;
	bool owner = slot >= 0;
	int r;

	if (!buf || !labels)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "nftables");
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t nlab = nl;

		first = n->seq;
		r = reject ? nft_build_reject(buf, size, first, table, owner, spec, &len, labels,
					      &nlab, err)
			   : nft_build_redirect(buf, size, first, table, owner, spec, &len, labels,
						&nlab, err);
		if (r < 0)
			return -1;
		n->seq += (uint32_t)nlab + 2;
		if (talk(n, buf, len, nlab, first, n->seq - 1, &t, err) < 0)
			return -1;
		if (!t.errnum)
			break;
		/* kernels before 5.12 refuse the owner flag: make it without */
		if (owner && t.errnum == EOPNOTSUPP && t.err_seq == labels[0].seq) {
			owner = false;
			continue;
		}
		return refusal(&t, labels, nlab, table, err);
	}
	if (owner) {
		struct mnl_socket *was = n->nl;

		own(n, (size_t)slot, table);
		if (reopen(n, was, err) < 0)
			return -1;
	}
	return 0;
}

int nft_redirect_add(struct nft *n, const char *table, const struct nft_redirect *r,
		     struct duress_err *err)
{
	return apply_batch(n, table, false, r, true, err);
}

int nft_reject_add(struct nft *n, const char *table, const struct nft_reject *r,
		   struct duress_err *err)
{
	return apply_batch(n, table, true, r, true, err);
}

/* Close the owner socket of table in namespace ino, if we hold it (the
 * kernel removes the table with it): true if we did. */
static bool disown(unsigned long long ino, const char *table)
{
	bool found = false;

	for (size_t i = 0; i < NFT_MAX_OWNED; i++) {
		if (!owned[i].nl || owned[i].ino != ino || strcmp(owned[i].table, table))
			continue;
		mnl_socket_close(owned[i].nl);
		memset(&owned[i], 0, sizeof(owned[i]));
		found = true;
	}
	return found;
}

int nft_table_del(struct nft *n, const char *table, bool *gone, struct duress_err *err)
{
	char buf[NFT_BATCH_MIN] = { 0 };
	size_t len;
	uint32_t first;
	struct talk t;
	bool owner;

	*gone = false;
	if (!nft_name_ours(table))
		return nft_build_deltable(buf, sizeof(buf), n->seq, table, &len, err);
	/* closing the owner socket removes an owned table at once; a table of a
	 * dead agent (or one made without the flag) is deleted by name */
	owner = disown(n->ino, table);
	/* EPERM: the table is owned by another socket.  When that is our own
	 * owner socket still held by a child forked a moment ago (it closes
	 * its copy right after fork, pthread_atfork), the table goes within
	 * milliseconds; a live owner keeps it, and this fails after 1 s. */
	for (int tries = 0;; tries++) {
		if (nft_build_deltable(buf, sizeof(buf), n->seq, table, &len, err) < 0)
			return -1;
		first = n->seq;
		n->seq += 3;
		if (talk(n, buf, len, 1, first, n->seq - 1, &t, err) < 0)
			return -1;
		if (t.errnum != EPERM || tries >= 100)
			break;
		usleep(10000);
	}
	if (t.errnum == ENOENT) {
		*gone = !owner; /* ours went with its owner socket: reverted */
		return 0;
	}
	if (t.errnum)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, t.errnum,
				       "nftables: delete table inet %s%s%s", table,
				       t.extack[0] ? ": " : "", t.extack);
	return 0;
}

int nft_table_exists(struct nft *n, const char *table, struct duress_err *err)
{
	char buf[NFT_MSG_ROOM] = { 0 };
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	struct talk tk;
	uint32_t seq = n->seq++;

	if (!t)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, ENOMEM, "nftables");
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	if (talk(n, buf, nlh->nlmsg_len, 1, seq, seq, &tk, err) < 0)
		return -1;
	if (tk.errnum == ENOENT)
		return 0;
	if (tk.errnum)
		return duress_err_setc(err, DURESS_EXIT_INTERNAL, tk.errnum,
				       "nftables: get table inet %s", table);
	return 1;
}

/* ---- the probe ---- */

struct probe_arg {
	bool redirect, reject;
};

static int kernel_probe(struct nft *n, void *arg, struct duress_err *err)
{
	struct probe_arg *a = arg;
	char name[NFT_NAME_MAX];

	if (a->redirect) {
		struct nft_redirect r = { .l4proto = IPPROTO_TCP,
					  .inbound = true,
					  .port = 9,
					  .to_port = 10,
					  .skip_mark = 1 };

		nft_table_name("probe", name, sizeof(name));
		if (apply_batch(n, name, false, &r, false, err) < 0)
			return -1;
		r.inbound = false;
		r.l4proto = IPPROTO_UDP;
		nft_table_name("probe", name, sizeof(name));
		if (apply_batch(n, name, false, &r, false, err) < 0)
			return -1;
	}
	if (a->reject) {
		struct nft_reject rj = { .skip_mark = 1 };

		nft_table_name("probe", name, sizeof(name));
		if (apply_batch(n, name, true, &rj, false, err) < 0)
			return -1;
	}
	return 0;
}

int nft_probe(bool redirect, bool reject, struct duress_err *err)
{
	struct probe_arg a = { redirect, reject };
	struct open_job j = { .netns_fd = -1, .probe = kernel_probe, .probe_arg = &a };

	if (run_open_thread(&j, err) < 0)
		return duress_err_wrap(err, "nftables probe");
	if (j.probe_rc < 0) {
		*err = j.probe_err;
		return -1;
	}
	return 0;
}

/* ---- the undo kind ---- */

static int revert_nft_table(const struct undo_rec *rec, bool *gone, struct duress_err *err)
{
	cleanup_close int fd = -1;
	struct nft *n = NULL;
	unsigned long long ino = 0;
	bool had = false;
	pid_t pid;
	int r;

	if (!nft_name_ours(rec->what))
		return duress_err_set(
			err, EPERM, "nft-table: refusing to delete table '%s': not one of duress's",
			rec->what);
	/* ours, made by this process: closing its owner socket removes it;
	 * the delete below then only confirms it is gone */
	if (ns_ref_parse(rec->where, &pid, &ino) == 0)
		had = disown(ino,
			     rec->what); /* nft_table_del then confirms (and waits out EPERM) */
	if (netshape_ref_open(rec->where, &fd, gone, err) < 0)
		return -1;
	if (*gone)
		return 0; /* the namespace is gone, and its tables with it */
	if (nft_open(fd, &n, err) < 0)
		return duress_err_wrap(err, "table %s in %s", rec->what, rec->where);
	r = nft_table_del(n, rec->what, gone, err);
	nft_close(n);
	if (had)
		*gone = false;
	return r;
}

static void describe_nft_table(const struct undo_rec *rec, char *buf, size_t len)
{
	snprintf(buf, len, "delete nftables table %s %s in %s", rec->value[0] ? rec->value : "inet",
		 rec->what, rec->where);
}

/* What a journal may hold: a table of duress's own (its prefix) in a
 * namespace reference the agent writes, of the inet family. */
static int check_nft_table(const struct undo_rec *rec, char *why, size_t len)
{
	unsigned long long ino;
	pid_t pid;

	if (ns_ref_parse(rec->where, &pid, &ino) < 0 || !nft_name_ours(rec->what) ||
	    (rec->value[0] && strcmp(rec->value, "inet"))) {
		snprintf(why, len, "nft-table: '%.60s' in '%.100s' is not a table of duress's own",
			 rec->what, rec->where);
		return -1;
	}
	return 0;
}

const struct undo_kind undo_kind_nft_table = { "nft-table", revert_nft_table, describe_nft_table,
					       check_nft_table };
