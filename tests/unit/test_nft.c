// SPDX-License-Identifier: MIT
/*
 * nftables tables of duress's own: names, and the netlink batches parsed
 * back with libnftnl (what each rule matches, in libnftnl's own words);
 * as root on a kernel with nf_tables, a redirect table made in a throwaway
 * namespace and removed by its undo step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>

#include <duress/core/exitcode.h>
#include <duress/core/undo.h>
#include <duress/net/netshape.h>
#include <duress/net/nft.h>

static void test_names(void **state)
{
	char a[NFT_NAME_MAX], b[NFT_NAME_MAX], want[64];

	(void)state;
	nft_table_name("http", a, sizeof(a));
	nft_table_name("disk-fill", b, sizeof(b));
	snprintf(want, sizeof(want), "duress_http_%d_", (int)getpid());
	assert_memory_equal(a, want, strlen(want));
	assert_string_not_equal(a, b);
	assert_non_null(strstr(b, "duress_disk_fill_"));
	assert_true(nft_name_ours(a));
	assert_true(nft_name_ours(b));
	assert_false(nft_name_ours("duress"));
	assert_false(nft_name_ours("duressx_1"));
	assert_false(nft_name_ours("filter"));
	assert_false(nft_name_ours("nat"));
	assert_false(nft_name_ours("DURESS_http_1_1"));
	assert_false(nft_name_ours("duress_http_1_1;x"));
	assert_false(nft_name_ours("duress_../x"));
	assert_false(nft_name_ours(
		"duress_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* Walk a batch: message types in order into types[], rules as libnftnl
 * text (one line each, "chain: [ expr ] [ expr ]") into text. */
struct seen {
	int types[128];
	size_t ntypes;
	char text[8192];
	char table[64], chain_type[16];
	uint32_t hook, table_flags;
	int32_t prio;
	bool begin, end;
};

static void walk(const char *buf, size_t len, struct seen *s)
{
	int left = (int)len;

	memset(s, 0, sizeof(*s));
	for (const struct nlmsghdr *h = (const void *)buf; mnl_nlmsg_ok(h, left);
	     h = mnl_nlmsg_next(h, &left)) {
		int type = h->nlmsg_type & 0xff;

		if (h->nlmsg_type == NFNL_MSG_BATCH_BEGIN) {
			s->begin = true;
			continue;
		}
		if (h->nlmsg_type == NFNL_MSG_BATCH_END) {
			s->end = true;
			continue;
		}
		assert_int_equal(h->nlmsg_type >> 8, NFNL_SUBSYS_NFTABLES);
		assert_true(h->nlmsg_flags & NLM_F_ACK);
		s->types[s->ntypes++] = type;
		if (type == NFT_MSG_NEWTABLE || type == NFT_MSG_DELTABLE) {
			struct nftnl_table *t = nftnl_table_alloc();

			assert_int_equal(nftnl_table_nlmsg_parse(h, t), 0);
			snprintf(s->table, sizeof(s->table), "%s",
				 nftnl_table_get_str(t, NFTNL_TABLE_NAME));
			assert_int_equal(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY), NFPROTO_INET);
			if (nftnl_table_is_set(t, NFTNL_TABLE_FLAGS))
				s->table_flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
			nftnl_table_free(t);
		} else if (type == NFT_MSG_NEWCHAIN) {
			struct nftnl_chain *c = nftnl_chain_alloc();

			assert_int_equal(nftnl_chain_nlmsg_parse(h, c), 0);
			snprintf(s->chain_type, sizeof(s->chain_type), "%s",
				 nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE));
			s->hook = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
			s->prio = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
			nftnl_chain_free(c);
		} else if (type == NFT_MSG_NEWRULE) {
			struct nftnl_rule *r = nftnl_rule_alloc();
			char line[2048];
			size_t n = strlen(s->text);

			assert_int_equal(nftnl_rule_nlmsg_parse(h, r), 0);
			nftnl_rule_snprintf(line, sizeof(line), r, NFTNL_OUTPUT_DEFAULT, 0);
			/* "inet duress_x output 0\n  [ meta ... ]\n" -> one line */
			for (char *p = line, *q = line;; p++) {
				char ch = *p == '\n' ? ' ' : *p;

				if (ch == ' ' && q > line && q[-1] == ' ')
					continue;
				*q++ = ch;
				if (!ch)
					break;
			}
			snprintf(s->text + n, sizeof(s->text) - n, "%s\n", line);
			nftnl_rule_free(r);
		}
	}
	assert_true(s->begin);
	assert_true(s->end);
}

static bool has(const char *text, const char *needle)
{
	if (strstr(text, needle))
		return true;
	print_error("'%s' not in:\n%s\n", needle, text);
	return false;
}

static void test_redirect_inbound(void **state)
{
	struct nft_redirect r = { .l4proto = IPPROTO_TCP,
				  .inbound = true,
				  .port = 8080,
				  .to_port = 40000,
				  .skip_mark = 0x0d5a0000 };
	struct nft_label labels[8];
	size_t len = 0, nl = 8;
	struct duress_err err = { 0 };
	char buf[NFT_BATCH_MIN];
	static struct seen s;

	(void)state;
	assert_int_equal(nft_build_redirect(buf, sizeof(buf), 100, "duress_http_1_1", true, &r,
					    &len, labels, &nl, &err),
			 0);
	walk(buf, len, &s);
	assert_int_equal(s.ntypes, 3);
	assert_int_equal(s.types[0], NFT_MSG_NEWTABLE);
	assert_int_equal(s.types[1], NFT_MSG_NEWCHAIN);
	assert_int_equal(s.types[2], NFT_MSG_NEWRULE);
	assert_string_equal(s.table, "duress_http_1_1");
	assert_int_equal(s.table_flags, NFT_TABLE_F_OWNER);
	assert_string_equal(s.chain_type, "nat");
	assert_int_equal(s.hook, NF_INET_PRE_ROUTING);
	assert_int_equal(s.prio, -100);
	/* the labels name each message by its seq, begin is 100 */
	assert_int_equal(nl, 3);
	assert_int_equal(labels[0].seq, 101);
	assert_string_equal(labels[0].module, "nf_tables");
	assert_string_equal(labels[1].module, "nft_chain_nat");
	assert_string_equal(labels[2].module, "nft_redir");
	/* meta mark != 0x0d5a0000; l4proto tcp; dport 8080; redirect :40000 */
	assert_true(has(s.text, "inet duress_http_1_1 prerouting"));
	assert_true(has(s.text, "[ meta load mark => reg 1 ]"));
	assert_true(has(s.text, "[ cmp neq reg 1 0x0d5a0000 ]"));
	assert_true(has(s.text, "[ meta load l4proto => reg 1 ]"));
	assert_true(has(s.text, "[ cmp eq reg 1 0x00000006 ]"));
	assert_true(has(s.text, "[ payload load 2b @ transport header + 2 => reg 1 ]"));
	assert_true(has(s.text, "[ cmp eq reg 1 0x0000901f ]"));
	assert_true(has(s.text, "[ immediate reg 1 0x0000409c ]"));
	assert_true(has(s.text, "[ redir proto_min reg 1"));
	/* inbound ignores --to (the peers are the clients) */
	assert_false(strstr(s.text, "network header"));
}

static void test_redirect_outbound(void **state)
{
	struct ns_cidr c[2];
	struct nft_redirect r = { .l4proto = IPPROTO_TCP,
				  .port = 443,
				  .to_port = 40001,
				  .skip_mark = 0x0d5a0000,
				  .cidrs = c,
				  .ncidrs = 2 };
	struct duress_err err = { 0 };
	char buf[NFT_BATCH_MIN];
	size_t len = 0;
	static struct seen s;

	(void)state;
	assert_int_equal(ns_parse_cidr("10.1.0.0/16", "--to", &c[0], &err), 0);
	assert_int_equal(ns_parse_cidr("fd00::5", "--to", &c[1], &err), 0);
	assert_int_equal(nft_build_redirect(buf, sizeof(buf), 1, "duress_http_1_2", false, &r, &len,
					    NULL, NULL, &err),
			 0);
	walk(buf, len, &s);
	assert_int_equal(s.ntypes, 4); /* table, chain, one rule per CIDR */
	assert_int_equal(s.table_flags, 0);
	assert_int_equal(s.hook, NF_INET_LOCAL_OUT);
	assert_true(has(s.text, "inet duress_http_1_2 output"));
	/* IPv4 /16: nfproto, daddr at 16, a mask, 10.1.0.0 */
	assert_true(has(s.text, "[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x00000002 ]"));
	assert_true(has(s.text, "[ payload load 4b @ network header + 16 => reg 1 ]"));
	assert_true(has(s.text, "[ bitwise reg 1 = ( reg 1 & 0x0000ffff ) ^ 0x00000000 ]"));
	assert_true(has(s.text, "[ cmp eq reg 1 0x0000010a ]"));
	/* IPv6 /128: nfproto 10, daddr at 24, no mask */
	assert_true(has(s.text, "[ cmp eq reg 1 0x0000000a ]"));
	assert_true(has(s.text, "[ payload load 16b @ network header + 24 => reg 1 ]"));
	assert_true(has(s.text, "[ cmp eq reg 1 0x000000fd 0x00000000 0x00000000 0x05000000 ]"));
	assert_true(has(s.text, "[ cmp eq reg 1 0x0000bb01 ]"));
	/* UDP for a DNS responder: same shape, l4proto 17 */
	r.l4proto = IPPROTO_UDP;
	r.ncidrs = 0;
	r.port = 53;
	assert_int_equal(nft_build_redirect(buf, sizeof(buf), 1, "duress_dns_1_3", false, &r, &len,
					    NULL, NULL, &err),
			 0);
	walk(buf, len, &s);
	assert_int_equal(s.ntypes, 3);
	assert_true(has(s.text, "[ cmp eq reg 1 0x00000011 ]"));
	assert_true(has(s.text, "[ cmp eq reg 1 0x00003500 ]"));
}

static void test_refusals(void **state)
{
	struct nft_redirect r = { .l4proto = IPPROTO_TCP, .port = 80, .to_port = 1 };
	struct ns_cidr many[NFT_MAX_CIDRS + 1] = { 0 };
	struct duress_err err = { 0 };
	char buf[NFT_BATCH_MIN];
	size_t len;

	(void)state;
	assert_int_equal(nft_build_deltable(buf, sizeof(buf), 1, "filter", &len, &err), -1);
	assert_non_null(strstr(err.msg, "refusing to delete table 'filter'"));
	duress_err_clear(&err);
	assert_int_equal(nft_build_redirect(buf, sizeof(buf), 1, "nat", false, &r, &len, NULL, NULL,
					    &err),
			 -1);
	duress_err_clear(&err);
	r.l4proto = IPPROTO_ICMP;
	assert_int_equal(nft_build_redirect(buf, sizeof(buf), 1, "duress_x_1_1", false, &r, &len,
					    NULL, NULL, &err),
			 -1);
	duress_err_clear(&err);
	r.l4proto = IPPROTO_TCP;
	r.cidrs = many;
	r.ncidrs = NFT_MAX_CIDRS + 1;
	assert_int_equal(nft_build_redirect(buf, sizeof(buf), 1, "duress_x_1_1", false, &r, &len,
					    NULL, NULL, &err),
			 -1);
	assert_int_equal(err.code, DURESS_EXIT_USAGE);
	/* a buffer too small is an error, never an overrun */
	duress_err_clear(&err);
	r.ncidrs = 0;
	assert_int_equal(nft_build_redirect(buf, 2048, 1, "duress_x_1_1", false, &r, &len, NULL,
					    NULL, &err),
			 -1);
	/* the undo kind refuses a table that is not ours, before anything */
	{
		const struct undo_kind *k = &undo_kind_nft_table;
		struct undo_rec rec = { .kind = k };
		bool gone = false;

		assert_non_null(k);
		snprintf(rec.where, sizeof(rec.where), "/proc/1/ns/net@1");
		snprintf(rec.what, sizeof(rec.what), "nat");
		rec.value = (char *)"inet";
		duress_err_clear(&err);
		assert_int_equal(k->revert(&rec, &gone, &err), -1);
		assert_non_null(strstr(err.msg, "not one of duress's"));
	}
}

static void test_reject(void **state)
{
	struct ns_cidr c;
	struct nft_reject rj = { .cidrs = &c, .ncidrs = 1, .skip_mark = 7 };
	struct duress_err err = { 0 };
	char buf[NFT_BATCH_MIN];
	size_t len = 0;
	static struct seen s;

	(void)state;
	assert_int_equal(ns_parse_cidr("192.0.2.0/24", "--to", &c, &err), 0);
	assert_int_equal(nft_build_reject(buf, sizeof(buf), 1, "duress_network_1_1", true, &rj,
					  &len, NULL, NULL, &err),
			 0);
	walk(buf, len, &s);
	/* table, input chain + 3 rules, output chain + 3 rules */
	assert_int_equal(s.ntypes, 9);
	assert_string_equal(s.chain_type, "filter");
	assert_true(has(s.text, "inet duress_network_1_1 input"));
	assert_true(
		has(s.text, "[ payload load 4b @ network header + 12 => reg 1 ]")); /* saddr in */
	assert_true(
		has(s.text, "[ payload load 4b @ network header + 16 => reg 1 ]")); /* daddr out */
	assert_true(has(s.text, "[ reject type 1 code 0 ]"));			    /* tcp reset */
	assert_true(has(s.text, "[ reject type 2 code 1 ]")); /* icmpx port unreachable */
	/* resets pass first: the ones the rules send come back through the other chain */
	assert_true(has(s.text, "[ payload load 1b @ transport header + 13 => reg 1 ] "
				"[ bitwise reg 1 = ( reg 1 & 0x00000004 ) ^ 0x00000000 ] "
				"[ cmp neq reg 1 0x00000000 ] [ immediate reg 0 accept ]"));
	/* without peers: everything but loopback */
	rj.ncidrs = 0;
	assert_int_equal(nft_build_reject(buf, sizeof(buf), 1, "duress_network_1_2", true, &rj,
					  &len, NULL, NULL, &err),
			 0);
	walk(buf, len, &s);
	assert_true(has(s.text, "[ meta load iif => reg 1 ] [ cmp neq reg 1 0x00000001 ]"));
	assert_true(has(s.text, "[ meta load oif => reg 1 ] [ cmp neq reg 1 0x00000001 ]"));
}

/* The namespace's process, ended even when a check fails (no orphan). */
static pid_t ns_child;

static int end_child(void **state)
{
	(void)state;
	if (ns_child > 0) {
		kill(ns_child, SIGKILL);
		waitpid(ns_child, NULL, 0);
	}
	ns_child = 0;
	return 0;
}

/* As root, on a kernel with nf_tables: a table in a namespace of a child
 * process, seen, then removed by its undo step. */
static void test_kernel(void **state)
{
	struct nft_redirect r = { .l4proto = IPPROTO_TCP,
				  .inbound = false,
				  .port = 80,
				  .to_port = 40002,
				  .skip_mark = 0x0d5a0000 };
	struct duress_err err = { 0 };
	struct undo_log log;
	struct nft *n = NULL;
	char table[NFT_NAME_MAX], path[64], ref[PATH_MAX];
	int p[2], fd, idx;
	pid_t child;
	char c;

	(void)state;
	if (geteuid() != 0)
		skip();
	if (nft_probe(true, false, &err) < 0) {
		print_message("nft_probe: %s (skipped)\n", err.msg);
		assert_int_equal(err.code, DURESS_EXIT_UNSUPPORTED);
		assert_non_null(strstr(err.msg, "nf"));
		skip();
	}
	assert_int_equal(pipe(p), 0);
	child = fork();
	assert_true(child >= 0);
	ns_child = child;
	if (child == 0) {
		close(p[0]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)child);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(netshape_ref_make(child, fd, ref, sizeof(ref), &err), 0);
	assert_int_equal(nft_open(fd, &n, &err), 0);
	nft_table_name("test", table, sizeof(table));
	undo_log_init(&log);
	idx = undo_record(&log, &undo_kind_nft_table, "test", ref, table, "inet", &err);
	assert_true(idx >= 0);
	if (nft_redirect_add(n, table, &r, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(nft_table_exists(n, table, &err), 1);
	/* a second table of the same name is refused, the first stays */
	assert_int_equal(nft_redirect_add(n, table, &r, &err), -1);
	assert_int_equal(nft_table_exists(n, table, &err), 1);
	/* a fork()ed child must not keep the owner socket (the table) alive */
	{
		pid_t k = fork();

		if (k == 0) {
			sleep(2);
			_exit(0);
		}
		size_t one = (size_t)idx;
		struct undo_report rep = { 0 };

		assert_int_equal(undo_revert_steps(&log, &one, 1, &rep), 0);
		assert_int_equal(rep.reverted, 1);
		assert_int_equal(nft_table_exists(n, table, &err), 0);
		kill(k, SIGKILL);
		waitpid(k, NULL, 0);
	}
	/* reverting again: already gone, still fine */
	log.recs[idx].done = false;
	{
		size_t one = (size_t)idx;
		struct undo_report rep = { 0 };

		assert_int_equal(undo_revert_steps(&log, &one, 1, &rep), 0);
		assert_int_equal(rep.gone, 1);
	}
	/* a reject table (partitions that fail fast), where the kernel has it */
	{
		struct ns_cidr peer;
		struct nft_reject rj = { .cidrs = &peer, .ncidrs = 1, .skip_mark = 0x0d5a0000 };
		bool gone;

		assert_int_equal(ns_parse_cidr("192.0.2.0/24", "--to", &peer, &err), 0);
		nft_table_name("test", table, sizeof(table));
		if (nft_reject_add(n, table, &rj, &err) < 0) {
			print_message("reject: %s (not checked)\n", err.msg);
			assert_int_equal(err.code, DURESS_EXIT_UNSUPPORTED);
		} else {
			char cmd[512];

			assert_int_equal(nft_table_exists(n, table, &err), 1);
			/* a connect() to the peer is refused at once: the reset the
			 * output chain sends gets back through the input chain */
			snprintf(
				cmd, sizeof(cmd),
				"nsenter --net=%s sh -c 'ip addr add 192.0.2.5/24 dev lo && "
				"ip link set lo up && timeout 5 bash -c \"exec 3<>/dev/tcp/192.0.2.9/80\" "
				"2>&1 | grep -q \"Connection refused\"'",
				path);
			assert_int_equal(system(cmd), 0);
			assert_int_equal(nft_table_del(n, table, &gone, &err), 0);
			assert_false(gone);
			assert_int_equal(nft_table_exists(n, table, &err), 0);
		}
	}
	/* a table that is not ours is never deleted, even by name */
	{
		bool gone;

		duress_err_clear(&err);
		assert_int_equal(nft_table_del(n, "filter", &gone, &err), -1);
		assert_non_null(strstr(err.msg, "not one of duress's"));
	}
	undo_log_free(&log);
	nft_close(n);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_redirect_inbound),
		cmocka_unit_test(test_redirect_outbound),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_reject),
		cmocka_unit_test_teardown(test_kernel, end_child),
	};

	return cmocka_run_group_tests_name("nft", tests, NULL, NULL);
}
