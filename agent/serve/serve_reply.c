// SPDX-License-Identifier: MIT
/* duress serve's answers (serve_reply.h). */
#include <duress/serve/serve_reply.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
		      size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
	size_t n;

	json_decref(j);
	if (!s)
		return MHD_NO;
	n = strlen(s);
	s = realloc(s, n + 2);
	if (!s)
		return MHD_NO;
	s[n] = '\n';
	s[n + 1] = '\0';
	return reply(c, status, "application/json", s, n + 1);
}

enum MHD_Result reply_error(struct MHD_Connection *c, const struct serve_error *e)
{
	char *s = serve_error_json(e);

	if (!s)
		return MHD_NO;
	return reply(c, (unsigned)e->status, "application/json", s, strlen(s));
}

/* An error answer with one more header (WWW-Authenticate, Allow). */
enum MHD_Result reply_error_hdr(struct MHD_Connection *c, const struct serve_error *e,
				const char *header, const char *value)
{
	char *s = serve_error_json(e);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(s ? strlen(s) : 0, s, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, header, value);
	ret = MHD_queue_response(c, (unsigned)e->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result reply_fail(struct MHD_Connection *c, int status, const char *field, const char *fmt,
			   ...)
{
	struct serve_error e;
	va_list ap;

	serve_error_set(&e, status, field, "%s", "");
	va_start(ap, fmt);
	vsnprintf(e.reason, sizeof(e.reason), fmt, ap);
	va_end(ap);
	serve_utf8_fix(e.reason);
	return reply_error(c, &e);
}
