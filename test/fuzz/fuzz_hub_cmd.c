/* libFuzzer target: what a client sends the event hub (lib/server/hub_cmd.c
 * hub_cmd_message: size bound, rate limit, UTF-8, JSON, "type", the built-in
 * commands, on_command), through the external-client entry point
 * st_hub_ext_message that WebRTC data channels use, and the hub's replies
 * (hub_ext_flush). Every reply must be a valid wire text (fuzz_hub.h).
 *
 * Input: byte 0 selects the hub (bit 0: small max_message 64 + rate 1/s,
 * so the size bound and the rate limit/flood close are reached; else 16 KiB
 * and no practical rate limit; bit 1: with an on_command callback; bit 2:
 * binary message), bit 3: the client also takes the broadcast (replay).
 * The rest is split at "\n\x00\n" into messages (at most MAX_MSGS), sent one
 * after another by the same client.
 *
 *   make build-fuzz/fuzz_hub_cmd && build-fuzz/fuzz_hub_cmd test/fuzz/corpus/fuzz_hub_cmd
 */
#include "fuzz_hub.h"

#define MAX_MSGS 256 /* messages per input (more only slows the fuzzer down) */

static strapto_event_hub *hubs[4];
static uint64_t n_commands;

static void on_command(const char *type, const char *data_json, uint64_t client_id, void *user)
{
    /* the hub validated the message: type is non-empty UTF-8, data JSON */
    FUZZ_ASSERT(type && *type && g_utf8_validate(type, -1, NULL));
    json_error_t je;
    json_t *j = json_loads(data_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    FUZZ_ASSERT(j != NULL);
    json_decref(j);
    n_commands++;
}

static strapto_event_hub *hub_for(int sel)
{
    if (!hubs[sel]) {
        strapto_event_hub_config hc;
        strapto_event_hub_config_init(&hc);
        hc.loop = 0;
        hc.max_message = (sel & 1) ? 64 : 0;
        hc.input_rate = (sel & 1) ? 1 : 1e9; /* 1/s: burst 2, flood close after ~32 */
        hc.client_queue = 16;
        if (sel & 2) hc.on_command = on_command;
        FUZZ_ASSERT(st_hub_new_detached(fuzz_ctx(), &hc, &hubs[sel]) == 0);
    }
    return hubs[sel];
}

typedef struct {
    int closed;
    unsigned sent;
} ext_state;

static int ext_send(const char *text, size_t len, void *user)
{
    ext_state *s = user;
    FUZZ_ASSERT(!s->closed);
    fuzz_check_wire(text, len);
    s->sent++;
    return 0;
}

static void ext_close(int code, const char *reason, void *user)
{
    ext_state *s = user;
    FUZZ_ASSERT(code == 1008 || code == 1001);
    s->closed = 1;
}

typedef struct {
    const uint8_t *data;
    size_t size;
} job;

static void run(void *user)
{
    job *jb = user;
    int sel = jb->data[0];
    strapto_event_hub *hub = hub_for(sel & 3);
    ext_state st = {0, 0};
    st_hub_ext_config ec = {.send = ext_send, .close = ext_close, .user = &st, .events = (sel >> 3) & 1,
                            .kind = "fuzz"};
    st_hub_ext *e = NULL;
    FUZZ_ASSERT(st_hub_ext_new(hub, &ec, &e) == 0);
    hub_client *c = (hub_client *)e;
    const uint8_t *p = jb->data + 1, *end = jb->data + jb->size;
    int binary = (sel >> 2) & 1;
    int msgs = 0;
    while (p <= end && !st.closed && msgs++ < MAX_MSGS) {
        const uint8_t *q = p;
        while (q + 3 <= end && memcmp(q, "\n\0\n", 3)) q++;
        if (q + 3 > end) q = end;
        int rc = st_hub_ext_message(e, (const char *)p, (size_t)(q - p), binary);
        FUZZ_ASSERT(rc == STRAPTO_OK || (rc == STRAPTO_ELIMIT && st.closed));
        hub_ext_flush(c);
        p = q + 3;
    }
    hub_ext_flush(c);
    /* every reply was handed over (nothing left queued, transport never full) */
    FUZZ_ASSERT(c->dead || c->uq_count == 0);
    st_hub_ext_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    job jb = {data, size};
    st_ctx_run_sync(fuzz_ctx(), 0, run, &jb);
    return 0;
}
