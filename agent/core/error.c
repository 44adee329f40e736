// SPDX-License-Identifier: MIT
#include <duress/core/error.h>

#include <stdarg.h>
#include <string.h>

static void err_vfill(struct duress_err *err, int errnum, const char *fmt, va_list ap)
{
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);

	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(err->msg))
		n = sizeof(err->msg) - 1;
	if (errnum)
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	err->errnum = errnum;
}

int duress_err_set(struct duress_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	err_vfill(err, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int duress_err_setc(struct duress_err *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	err_vfill(err, errnum, fmt, ap);
	va_end(ap);
	err->code = code;
	return -1;
}

/* Copy what fits of src into dst (size len, len >= 1); returns bytes copied. */
static size_t strlcpy_trunc(char *dst, const char *src, size_t len)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

int duress_err_wrap(struct duress_err *err, const char *fmt, ...)
{
	char ctx[DURESS_ERR_MSG_MAX];
	char old[DURESS_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation keeps the context and the start of the cause. */
	{
		size_t n = strnlen(ctx, sizeof(err->msg) - 1);

		memcpy(err->msg, ctx, n);
		if (n + 2 < sizeof(err->msg)) {
			memcpy(err->msg + n, ": ", 2);
			n += 2;
		}
		n += strlcpy_trunc(err->msg + n, old, sizeof(err->msg) - n);
		err->msg[n] = '\0';
	}
	return -1;
}

void duress_err_print(FILE *f, const struct duress_err *err)
{
	fprintf(f, "duress: %s\n", err->msg[0] ? err->msg : "unknown error");
}

void duress_err_clear(struct duress_err *err)
{
	err->errnum = 0;
	err->code = 0;
	err->msg[0] = '\0';
}
