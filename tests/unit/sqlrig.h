/* SPDX-License-Identifier: MIT */
/*
 * The rig of the database filter tests (test_pgf.c, test_myf.c):
 * proxyrig.h's with the SQL rules' configuration (sqlrule.h), and reads of
 * exactly the protocol bytes asked for.  Include after <cmocka.h>.
 */
#ifndef DURESS_TEST_SQLRIG_H
#define DURESS_TEST_SQLRIG_H

#include <duress/proxy/sqlrule.h>

#define RIG_CONFIG struct sqlr_config cfg;
#include "proxyrig.h"

static inline void rig_up_with(struct rig *g, const struct proxy_filter *filter)
{
	g->cfg.seed = 11;
	sqlr_init(&g->cfg);
	rig_open(g, filter, &g->cfg);
}

static inline void rig_down(struct rig *g)
{
	rig_close(g);
	sqlr_free(&g->cfg);
	memset(g, 0, sizeof(*g));
}

/* Up to want bytes from fd within timeout_ms (turning the loop); *eof set
 * when the peer closed (or reset). */
static inline size_t get(struct rig *g, int fd, void *out, size_t want, int timeout_ms, bool *eof)
{
	enum rig_end end;
	size_t len = rig_read(g, fd, out, want, want, NULL, timeout_ms, &end);

	if (eof)
		*eof = end != RIG_OPEN;
	return len;
}

#endif
