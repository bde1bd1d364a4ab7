/* Shared by the hub fuzz targets (fuzz_hub_cmd.c, fuzz_hub_ws.c): one
 * context with one loop, and the check every text the hub sends a client
 * must pass: valid UTF-8, one JSON object {"type": non-empty string,
 * "data": any, "timestamp": string}. Header only: the Makefile builds each
 * target on its own. */
#ifndef FUZZ_HUB_H
#define FUZZ_HUB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "server/hub_int.h"
#include "strapto/ctx.h"
#include "strapto/log.h"

#define FUZZ_ASSERT(c) do { if (!(c)) { \
    fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static strapto_ctx *fuzz_ctx(void)
{
    static strapto_ctx *ctx;
    if (!ctx) {
        strapto_ctx_options o;
        strapto_ctx_options_init(&o);
        o.threads = 1;
        o.log_level = getenv("FUZZ_LOG") ? STRAPTO_LOG_DEBUG : STRAPTO_LOG_ERROR;
        o.bus_replay = 8;
        FUZZ_ASSERT(strapto_ctx_new(&o, &ctx) == 0);
    }
    return ctx;
}

/* One wire text {"type","data","timestamp"} as the hub sends it. */
static void fuzz_check_wire(const char *text, size_t len)
{
    FUZZ_ASSERT(g_utf8_validate_len(text, len, NULL));
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    if (!j) fprintf(stderr, "invalid JSON from the hub (%s): %.*s\n", je.text, (int)(len > 400 ? 400 : len), text);
    FUZZ_ASSERT(j && json_is_object(j));
    json_t *t = json_object_get(j, "type");
    FUZZ_ASSERT(json_is_string(t) && json_string_length(t) > 0);
    FUZZ_ASSERT(json_object_get(j, "data") != NULL);
    FUZZ_ASSERT(json_is_string(json_object_get(j, "timestamp")));
    json_decref(j);
}

#endif
