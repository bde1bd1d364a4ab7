/* libFuzzer target: the model's stdout line splitter and line-to-event
 * conversion (lib/server/model.c: pipe_pump, take_lines, utf8_cut,
 * publish_line, log_err_line; all static), reached the only way the
 * library offers: st_model_new runs a child that writes the input bytes on
 * its stdout (cat FILE) or stderr, and the "model_output" events are
 * collected from the bus.
 *
 * Checks (stdout): the events are exactly those of a reference splitter
 * written from model.h's contract: LF-terminated lines (a CR before the LF
 * dropped), a line longer than max_line published in pieces (the cut kept
 * off a UTF-8 sequence's middle, cut at max_line - 1 at most), the rest at
 * EOF as the last line; a line that is a JSON object with a string "type"
 * published verbatim, anything else as {"text": line} with invalid UTF-8
 * repaired. Every payload is valid UTF-8 and a JSON object; the number of
 * events equals lines_out. (stderr): no model_output event at all.
 *
 * Input: byte 0: bits 0-5 max_line (0: the default 64 KiB, else 16 + n);
 * bit 6: the bytes go to stderr instead. The rest: the child's output.
 * Each input forks a child: expect a few hundred executions a second.
 *
 *   make build-fuzz/fuzz_model_lines && build-fuzz/fuzz_model_lines test/fuzz/corpus/fuzz_model_lines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "server/model.h"
#include "strapto/bus.h"
#include "strapto/ctx.h"
#include "strapto/log.h"
#include "strapto/server.h"

#define FUZZ_ASSERT(c) do { if (!(c)) { \
    fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static strapto_ctx *ctx;
static strapto_bus_sub *sub;
static char path[64];

/* what the subscription saw for the current input (loop thread only) */
typedef struct {
    GPtrArray *out;    /* model_output payloads */
    int exited;        /* the server_status "exited" event arrived */
} seen;
static seen cur;

static void on_event(const strapto_event *ev, void *user)
{
    if (strcmp(ev->source, "model") != 0) return;
    if (!strcmp(ev->type, "model_output")) {
        g_ptr_array_add(cur.out, g_strndup(ev->payload, ev->payload_len));
    } else if (!strcmp(ev->type, "server_status") && strstr(ev->payload, "\"exited\"")) {
        cur.exited = 1;
    }
}

static void init(void)
{
    strapto_ctx_options o;
    strapto_ctx_options_init(&o);
    o.threads = 1;
    o.log_level = getenv("FUZZ_LOG") ? STRAPTO_LOG_DEBUG : STRAPTO_LOG_ERROR;
    o.bus_replay = 0;
    FUZZ_ASSERT(strapto_ctx_new(&o, &ctx) == 0);
    cur.out = g_ptr_array_new_with_free_func(g_free);
    FUZZ_ASSERT(strapto_bus_subscribe(strapto_ctx_bus(ctx), "", 0, 1 << 18, on_event, NULL, &sub) == 0);
    snprintf(path, sizeof path, "/tmp/fuzz_model_lines.%d", (int)getpid());
}

/* ---- the reference: model.h's contract ---- */

static char *expected_payload(const char *s, size_t len, int whole)
{
    if (whole && len && s[len - 1] == '\r') len--;
    if (whole) {
        size_t i = 0;
        while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i < len && s[i] == '{') {
            json_error_t e;
            json_t *j = json_loadb(s, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
            int typed = j && json_is_object(j) && json_is_string(json_object_get(j, "type"));
            json_decref(j);
            if (typed) return g_strndup(s, len);
        }
    }
    gchar *valid = g_utf8_make_valid(s, (gssize)len);
    json_t *o = json_object();
    json_object_set_new(o, "text", json_stringn(valid, strlen(valid)));
    char *d = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    g_free(valid);
    char *r = g_strdup(d);
    free(d);
    return r;
}

static GPtrArray *reference(const char *s, size_t n, size_t cap)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    size_t start = 0;
    int long_line = 0;
    while (start < n) {
        size_t avail = n - start < cap ? n - start : cap;
        const char *nl = memchr(s + start, '\n', avail);
        if (nl) {
            size_t l = (size_t)(nl - (s + start));
            g_ptr_array_add(a, expected_payload(s + start, l, !long_line));
            long_line = 0;
            start += l + 1;
        } else if (n - start >= cap) {
            /* cap bytes without a newline: a piece, not cut inside a UTF-8 sequence */
            size_t k = cap - 1;
            for (int i = 0; i < 3 && k > 0 && ((unsigned char)s[start + k] & 0xC0) == 0x80; i++) k--;
            if (!k) k = cap - 1;
            g_ptr_array_add(a, expected_payload(s + start, k, 0));
            long_line = 1;
            start += k;
        } else {
            g_ptr_array_add(a, expected_payload(s + start, n - start, !long_line));
            break;
        }
    }
    return a;
}

/* ---- running one input ---- */

typedef struct {
    st_model_config cfg;
    st_model *m;
    st_model_info info;
    int done;
} job;

static void start(void *user)
{
    job *j = user;
    g_ptr_array_set_size(cur.out, 0);
    cur.exited = 0;
    FUZZ_ASSERT(st_model_new(ctx, 0, &j->cfg, &j->m) == 0);
}

static void poll_done(void *user)
{
    job *j = user;
    st_model_get_info(j->m, &j->info);
    j->done = j->info.state == ST_MODEL_EXITED && cur.exited;
}

static void stop(void *user)
{
    job *j = user;
    st_model_free(j->m);
    j->m = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!ctx) init();
    int sel = data[0];
    size_t max_line = (sel & 0x3f) ? 16 + (size_t)(sel & 0x3f) : 0;
    int to_stderr = (sel >> 6) & 1;
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(fwrite(data + 1, 1, size - 1, f) == size - 1);
    fclose(f);
    const char *argv_out[] = {"cat", path, NULL};
    const char *argv_err[] = {"sh", "-c", "exec cat -- \"$0\" >&2", path, NULL};
    job j = {.cfg = {.argv = to_stderr ? argv_err : argv_out, .restart = STRAPTO_RESTART_NEVER,
                     .max_line = max_line}};
    st_ctx_run_sync(ctx, 0, start, &j);
    for (int waited = 0; !j.done; waited++) {
        FUZZ_ASSERT(waited < 20000); /* 10 s */
        if (waited) g_usleep(500);
        st_ctx_run_sync(ctx, 0, poll_done, &j);
    }
    FUZZ_ASSERT(j.info.last_status == 0 && j.info.last_signal == 0);
    FUZZ_ASSERT(strapto_bus_sub_dropped(sub) == 0);
    GPtrArray *got = cur.out;
    FUZZ_ASSERT(j.info.lines_out == got->len);
    for (unsigned i = 0; i < got->len; i++) {
        const char *p = got->pdata[i];
        FUZZ_ASSERT(g_utf8_validate(p, -1, NULL));
        json_error_t e;
        json_t *o = json_loads(p, 0, &e);
        FUZZ_ASSERT(o && json_is_object(o));
        json_decref(o);
    }
    if (to_stderr) {
        FUZZ_ASSERT(got->len == 0);
    } else {
        GPtrArray *want = reference((const char *)data + 1, size - 1, max_line ? max_line : 64 * 1024);
        if (want->len != got->len) fprintf(stderr, "fuzz_model_lines: %u events, expected %u\n", got->len, want->len);
        for (unsigned i = 0; i < want->len && i < got->len; i++)
            if (strcmp(want->pdata[i], got->pdata[i]) != 0) {
                fprintf(stderr, "fuzz_model_lines: event %u:\n  got  %s\n  want %s\n", i,
                        (const char *)got->pdata[i], (const char *)want->pdata[i]);
                abort();
            }
        FUZZ_ASSERT(want->len == got->len);
        g_ptr_array_free(want, TRUE);
    }
    st_ctx_run_sync(ctx, 0, stop, &j);
    return 0;
}
