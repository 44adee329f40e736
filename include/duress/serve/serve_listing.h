/* SPDX-License-Identifier: MIT */
/*
 * GET /v1/targets (agent/serve/serve_listing.c): `duress targets --format
 * json` in a child, read by the event loop; requests that come meanwhile
 * wait for the same listing; at most 10 s.
 */
#ifndef DURESS_SERVE_LISTING_H
#define DURESS_SERVE_LISTING_H

#include <microhttpd.h>

struct serve_req;

/* Answer from the last listing, or start one and wait for it. */
enum MHD_Result listing_get(struct MHD_Connection *c, struct serve_req *r, const char *self_exe);
/* The running listing's output for the loop to poll; -1 when none. */
int listing_fd(void);
/* The loop saw listing_fd() ready. */
void listing_read(void);
/* The 1 Hz round: a listing over its time is stopped. */
void listing_tick(void);
/* Stop the running listing (why: for the log) and answer its waiters. */
void listing_stop(const char *why);
/* At the server's end. */
void listing_free(void);

#endif
