/* The HTTP + WebSocket server every server module shares: a SoupServer
 * (libsoup 3) on one loop of a context, with bearer-token auth, request
 * body bounds (413 before the body is read when Content-Length says so),
 * optional TLS, and JSON replies. Internal; not installed.
 * Every function runs on the server's loop thread. */
#ifndef STRAPTO_SERVER_HTTPD_H
#define STRAPTO_SERVER_HTTPD_H

#include <libsoup/soup.h>
#include "core/internal.h"

typedef struct st_httpd st_httpd;

typedef struct st_httpd_config {
    const char *listen;     /* "HOST:PORT", IPv4 or [IPv6]; port 0: any */
    const char *token;      /* NULL or "": no auth */
    const char *tls_cert, *tls_key; /* PEM files; both or neither */
    size_t max_body;        /* 0: 64 KiB */
} st_httpd_config;

/* Bind and listen. STRAPTO_EINVAL for a bad address or TLS files,
 * STRAPTO_EIO when the address cannot be bound (logged with the reason). */
int st_httpd_new(strapto_ctx *ctx, int loop, const st_httpd_config *cfg, st_httpd **out);
void st_httpd_free(st_httpd *h);
SoupServer *st_httpd_soup(st_httpd *h);
int st_httpd_port(st_httpd *h);
size_t st_httpd_max_body(st_httpd *h);

/* 1 when the request carries the token ("Authorization: Bearer T" or the
 * query parameter token=T) or no token is configured; otherwise replies
 * 401 with a JSON error and returns 0. */
int st_httpd_authorize(st_httpd *h, SoupServerMessage *msg);
/* 1 when the body is within max_body; otherwise replies 413 and returns 0. */
int st_httpd_check_body(st_httpd *h, SoupServerMessage *msg);

/* Replies. `json` is copied. */
void st_httpd_reply_json(SoupServerMessage *msg, int status, const char *json);
/* {"error":{"code":CODE,"message":MESSAGE}} with `status`. */
void st_httpd_reply_error(SoupServerMessage *msg, int status, const char *code, const char *message);

/* ISO 8601 UTC with milliseconds ("2026-11-22T05:01:02.345Z") for a wall
 * clock in microseconds; buf >= 32 bytes. */
void st_iso8601(int64_t wall_us, char *buf, size_t len);

#endif
