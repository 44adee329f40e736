/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 filter of the proxy engine: requests and responses framed
 * by libhttp-parser (keep-alive, pipelining, Content-Length, chunked,
 * bodies until EOF, HEAD, 1xx and Expect: 100-continue), each request
 * matched against the rules (httprule.h) and answered, held, or forwarded,
 * its response passed, rewritten, throttled, cut or reset as its plan
 * says.  Bytes are streamed; a body is held whole only when a fault needs
 * all of it (a percentage cut or malformed JSON of a chunked body,
 * HRULE_BUFFER_MAX at most).  Upgrade (WebSocket) and CONNECT pass
 * untouched, as does a connection whose bytes are not HTTP.
 *
 * Responses keep their order: an answer the proxy makes itself (abort,
 * 429) waits until the responses to the requests before it are out.
 */
#ifndef DURESS_HTTPF_H
#define DURESS_HTTPF_H

#include <stddef.h>
#include <stdint.h>

#include <duress/proxy/httprule.h>
#include <duress/proxy/phist.h>
#include <duress/proxy/proxy.h>

struct httpf_config {
	struct hrule *rules;
	size_t nrules;
	uint64_t seed; /* 0: from getrandom() */
	/* state in the proxy process */
	struct hrule_rng rng;
	uint64_t requests, responses, matched, parse_errors, upgrades, answered;
	uint64_t injected[HR_NKINDS];
	struct phist latency_added; /* delay and queueing, per request that had some */
};

/* Before proxy_new(): seeds the random source, fills the rules' buckets. */
void httpf_init(struct httpf_config *cfg);

/* The filter; its argument (proxy_config.filter_arg) is a struct httpf_config. */
extern const struct proxy_filter httpf_filter;

#endif
