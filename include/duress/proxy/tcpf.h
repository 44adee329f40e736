/* SPDX-License-Identifier: MIT */
/*
 * The TCP filter of the proxy engine: toxiproxy's toxics for any protocol
 * (TLS, databases, gRPC), on a percentage of the connections.  Bytes are
 * never looked into.
 *
 *   reset        RST at once (the client sees ECONNRESET on its first read
 *                or write), or after reset_after_ns
 *   timeout      accepted, never answered: no upstream, data swallowed
 *   latency      each direction its own delay (+- jitter); order is kept
 *   bandwidth    each direction its own rate (bytes/s)
 *   slow_close   a FIN is passed on only after this long
 *   limit_data   the connection is closed after this many bytes from the
 *                server
 *
 * A connection not picked (the rest of the percentage) or with nothing to
 * do in a direction is handed back to the engine for that direction
 * (proxy_pass: splice).
 */
#ifndef DURESS_TCPF_H
#define DURESS_TCPF_H

#include <stdbool.h>
#include <stdint.h>

#include <duress/proxy/httprule.h>
#include <duress/proxy/proxy.h>

enum tcpf_kind {
	TCPF_RESET,
	TCPF_TIMEOUT,
	TCPF_LATENCY,
	TCPF_BANDWIDTH,
	TCPF_SLOW_CLOSE,
	TCPF_LIMIT_DATA,
	TCPF_NKINDS,
};

struct tcpf_config {
	double percent; /* of the connections */
	bool reset;
	uint64_t reset_after_ns;
	bool timeout;
	uint64_t latency_ns[2], jitter_ns; /* [PROXY_UP], [PROXY_DOWN] */
	uint64_t bandwidth_bps[2];	   /* bytes per second; 0: none */
	uint64_t slow_close_ns;
	uint64_t limit_data; /* bytes from the server; 0: none */
	uint64_t seed;
	/* state in the proxy process */
	struct hrule_rng rng;
	uint64_t picked;
	uint64_t injected[TCPF_NKINDS];
	uint64_t swallowed; /* bytes a timeout ate */
};

const char *tcpf_kind_name(enum tcpf_kind k);
void tcpf_init(struct tcpf_config *cfg);
extern const struct proxy_filter tcpf_filter;

#endif
