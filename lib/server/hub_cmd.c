/* Event hub: what clients send (checks, rate limit, commands), the replies,
 * the figures, and external clients (transports the caller owns). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "server/hub_int.h"

#define FLOOD_LEAK 5.0    /* the flood meter leaks at FLOOD_LEAK x rate per second */
#define FLOOD_CLOSE 30.0  /* and closes the client past FLOOD_CLOSE x rate */
#define EXT_BATCH 256     /* messages per external client per flush round */

/* ---- histograms: 32 exact buckets, then 16 per power of two ---- */

static unsigned hist_index(int64_t us)
{
    if (us < 0) us = 0;
    if (us < 32) return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll((unsigned long long)us); /* >= 5 */
    unsigned sub = (unsigned)((unsigned long long)us >> (e - 4)) & 15u;
    unsigned idx = 32 + (e - 5) * 16 + sub;
    return idx < HUB_HIST_BUCKETS ? idx : HUB_HIST_BUCKETS - 1;
}

static int64_t hist_value(unsigned idx)
{
    if (idx < 32) return idx;
    unsigned e = (idx - 32) / 16 + 5, sub = (idx - 32) % 16;
    int64_t lo = ((int64_t)(16 + sub)) << (e - 4);
    return lo + (((int64_t)1 << (e - 4)) >> 1); /* middle of the bucket */
}

void hub_hist_add(hub_hist *h, int64_t us)
{
    h->n[hist_index(us)]++;
    h->count++;
}

int64_t hub_hist_pct(const hub_hist *a, const hub_hist *b, double pct)
{
    uint64_t total = a->count + (b ? b->count : 0);
    if (!total) return -1;
    uint64_t want = (uint64_t)(pct / 100.0 * (double)total + 0.5);
    if (want < 1) want = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < HUB_HIST_BUCKETS; i++) {
        acc += a->n[i] + (b ? b->n[i] : 0);
        if (acc >= want) return hist_value(i);
    }
    return hist_value(HUB_HIST_BUCKETS - 1);
}

/* ---- replies ---- */

static void reply(hub_client *c, const char *type, const char *data)
{
    hub_msg *m = hub_msg_event(type, data, strlen(data), strapto_wall_us());
    if (m) hub_client_push(c, m, 0);
}

static void reply_json(hub_client *c, const char *type, json_t *data)
{
    char *s = data ? json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(data);
    if (s) reply(c, type, s);
    free(s);
}

void hub_cmd_error(hub_client *c, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the message may quote client input cut at any byte: keep it valid UTF-8 */
    const char *end = NULL;
    if (!g_utf8_validate(msg, -1, &end)) msg[end - msg] = 0;
    c->hub->st_input_errors++;
    reply_json(c, "error", json_pack("{s:s,s:s}", "code", code, "message", msg));
}

static long long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long long size = 0, res = 0;
    int ok = fscanf(f, "%lld %lld", &size, &res) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? res * page : -1;
}

static json_t *stage_json(const hub_hist *h)
{
    return json_pack("{s:I,s:I,s:I}", "p50_us", (json_int_t)hub_hist_pct(&h[0], &h[1], 50),
                     "p99_us", (json_int_t)hub_hist_pct(&h[0], &h[1], 99), "count",
                     (json_int_t)(h[0].count + h[1].count));
}

static json_t *latency_json(strapto_event_hub *hub)
{
    double window = (double)(g_get_monotonic_time() - hub->h_rot_us) / 1e6 + (hub->h_pub[1].count ? 10.0 : 0.0);
    return json_pack("{s:f,s:{s:o,s:o},s:I,s:I,s:I,s:I,s:I,s:i}", "window_s", window, "stages",
                     "publish_to_hub", stage_json(hub->h_pub), "hub_to_send", stage_json(hub->h_send),
                     "events", (json_int_t)hub->st_events, "delivered", (json_int_t)hub->st_delivered,
                     "dropped", (json_int_t)hub->st_dropped, "bus_dropped",
                     (json_int_t)(hub->sub ? strapto_bus_sub_dropped(hub->sub) : 0), "slow_disconnects",
                     (json_int_t)hub->st_slow_disc, "clients", hub->n_ws + hub->n_ext);
}

static json_t *system_json(strapto_event_hub *hub)
{
    double up = (double)(g_get_monotonic_time() - hub->start_us) / 1e6;
    return json_pack("{s:s,s:I,s:f,s:I,s:i}", "version", strapto_version(), "uptime", (json_int_t)up,
                     "uptime_s", up, "memory", (json_int_t)rss_bytes(), "clients", hub->n_ws + hub->n_ext);
}

/* ---- input ---- */

/* 1: the message may be handled; 0: over the rate. */
static int take_token(hub_client *c)
{
    double rate = c->hub->input_rate, burst = 2 * rate;
    int64_t now = g_get_monotonic_time();
    if (!c->rate_us) {
        c->tokens = burst;
        c->rate_us = now;
    }
    double dt = (double)(now - c->rate_us) / 1e6;
    c->rate_us = now;
    c->tokens += dt * rate;
    if (c->tokens > burst) c->tokens = burst;
    c->flood -= dt * FLOOD_LEAK * rate;
    if (c->flood < 0) c->flood = 0;
    if (c->tokens >= 1) {
        c->tokens -= 1;
        return 1;
    }
    c->flood += 1;
    return 0;
}

static void close_client(hub_client *c, int code, const char *reason)
{
    if (c->kind == HUB_CLIENT_WS) {
        hub_ws_close(c, code, reason);
    } else {
        hub_client_ref(c);
        hub_client_kill(c, reason);
        if (c->ext.close) c->ext.close(code, reason, c->ext.user);
        hub_client_unref(c);
    }
}

static void command(hub_client *c, const char *type, json_t *data)
{
    strapto_event_hub *hub = c->hub;
    char *text = data ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    const char *dtext = text ? text : "{}";
    if (!strcmp(type, "consumer_input")) {
        int rc = strapto_bus_publish(hub->bus, "consumer_input", c->source, dtext, NULL);
        if (rc < 0)
            hub_cmd_error(c, rc == STRAPTO_ETOOBIG ? "message_too_large" : "unavailable",
                          "consumer_input not accepted: %s", strapto_strerror(rc));
    } else if (!strcmp(type, "get_system_info")) {
        reply_json(c, "system_info", system_json(hub));
    } else if (!strcmp(type, "get_performance_metrics")) {
        reply_json(c, "latency_trace", latency_json(hub));
    } else if (hub->on_command) {
        hub->on_command(type, dtext, c->id, hub->user);
    } else {
        hub_cmd_error(c, "unknown_command", "unknown command type \"%.64s\"", type);
    }
    free(text);
}

int hub_cmd_message(hub_client *c, const char *text, size_t len, int binary, int oversize)
{
    strapto_event_hub *hub = c->hub;
    if (c->dead) return -1;
    hub->st_inputs++;
    if (!take_token(c)) {
        if (c->flood > FLOOD_CLOSE * hub->input_rate) {
            ST_WARN("hub", "client %llu floods (far above %.0f messages/s): closing (1008)",
                    (unsigned long long)c->id, hub->input_rate);
            close_client(c, 1008, "input flood");
            return -1;
        }
        hub_cmd_error(c, "rate_limited", "more than %g messages/s (burst %g): message dropped", hub->input_rate,
                      2 * hub->input_rate);
        return 0;
    }
    if (oversize) {
        hub_cmd_error(c, "message_too_large", "message larger than %zu bytes", hub->max_message);
        return 0;
    }
    if (binary) {
        hub_cmd_error(c, "binary_not_supported", "binary messages are not accepted: send JSON text");
        return 0;
    }
    if (!g_utf8_validate_len(text, len, NULL)) {
        hub_cmd_error(c, "invalid_utf8", "the message is not valid UTF-8");
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &je);
    if (!j) {
        hub_cmd_error(c, "invalid_json", "invalid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return 0;
    }
    json_t *jt = json_is_object(j) ? json_object_get(j, "type") : NULL;
    if (!json_is_object(j)) {
        hub_cmd_error(c, "invalid_message", "a message must be a JSON object {\"type\",\"data\",\"timestamp\"}");
    } else if (!json_is_string(jt) || !json_string_length(jt)) {
        hub_cmd_error(c, "invalid_message", "the message has no string \"type\"");
    } else {
        hub_client_ref(c);
        command(c, json_string_value(jt), json_object_get(j, "data"));
        hub_client_unref(c);
    }
    json_decref(j);
    return 0;
}

/* ---- external clients ---- */

void hub_ext_flush(hub_client *c)
{
    strapto_event_hub *hub = c->hub;
    if (c->dead || c->blocked || !c->ext.send) return;
    hub_client_ref(c);
    int64_t now = g_get_monotonic_time();
    for (int sent = 0; !c->dead && !c->blocked; sent++) {
        if (sent == EXT_BATCH) {
            hub_client_mark_dirty(c);
            break;
        }
        if (hub_client_catch_up(c) < 0) break;
        hub_msg *m;
        int from_ring = 0;
        if (c->uq_count) {
            m = hub_client_uq_at(c, 0);
            if (m->flags & HUB_MSG_CONTROL) {
                hub_client_uq_pop(c);
                continue;
            }
        } else if (c->events && c->pos < hub->ring_end) {
            m = hub_ring_at(hub, c->pos);
            from_ring = 1;
        } else {
            break;
        }
        hub_msg_ref(m);
        int rc = c->ext.send(hub_msg_text(m), m->text_len, c->ext.user);
        if (c->dead) { /* freed from inside send() */
            hub_msg_unref(m);
            break;
        }
        if (rc == 0) {
            hub_delivered(c, m, now);
            if (from_ring) c->pos++;
            else hub_client_uq_pop(c);
        } else if (rc == STRAPTO_EAGAIN) {
            c->blocked = 1;
        } else {
            hub_client_kill(c, "transport gone");
        }
        hub_msg_unref(m);
    }
    hub_client_unref(c);
}

int st_hub_ext_new(strapto_event_hub *hub, const st_hub_ext_config *cfg, st_hub_ext **out)
{
    if (out) *out = NULL;
    if (!hub || !cfg || !cfg->send || !out) return STRAPTO_EINVAL;
    if (hub->closed) return STRAPTO_ECLOSED;
    if (hub->n_ws + hub->n_ext + hub->pending >= hub->max_clients) return STRAPTO_ELIMIT;
    const char *kind = cfg->kind ? cfg->kind : "dc";
    if (strlen(kind) > 16) return STRAPTO_EINVAL;
    hub_client *c = hub_client_new(hub, HUB_CLIENT_EXT);
    if (!c) return STRAPTO_ENOMEM;
    c->ext = *cfg;
    c->ext.kind = NULL;
    snprintf(c->source, sizeof c->source, "%s:%llu", kind, (unsigned long long)c->id);
    hub_client_ref(c); /* the caller's handle */
    if (cfg->events) hub_client_start_events(c);
    *out = (st_hub_ext *)c;
    return STRAPTO_OK;
}

uint64_t st_hub_ext_id(const st_hub_ext *e) { return e ? ((const hub_client *)e)->id : 0; }

int st_hub_ext_message(st_hub_ext *e, const char *text, size_t len, int binary)
{
    hub_client *c = (hub_client *)e;
    if (!c || (!text && len)) return STRAPTO_EINVAL;
    if (c->dead) return STRAPTO_ECLOSED;
    int over = len > c->hub->max_message;
    return hub_cmd_message(c, over ? "" : (text ? text : ""), over ? 0 : len, binary, over) < 0 ? STRAPTO_ELIMIT
                                                                                                 : STRAPTO_OK;
}

void st_hub_ext_writable(st_hub_ext *e)
{
    hub_client *c = (hub_client *)e;
    if (!c || c->dead) return;
    c->blocked = 0;
    hub_client_mark_dirty(c);
}

void st_hub_ext_free(st_hub_ext *e)
{
    hub_client *c = (hub_client *)e;
    if (!c) return;
    hub_client_kill(c, "freed by its owner");
    hub_client_unref(c);
}

/* ---- figures ---- */

typedef struct {
    strapto_event_hub *hub;
    st_hub_stats *out;
} stats_task;

static void stats_on_loop(void *data)
{
    stats_task *t = data;
    strapto_event_hub *hub = t->hub;
    st_hub_stats *s = t->out;
    s->clients = hub->n_ws + hub->n_ext;
    s->ws_clients = hub->n_ws;
    s->events = hub->st_events;
    s->delivered = hub->st_delivered;
    s->dropped = hub->st_dropped;
    s->bus_dropped = hub->sub ? strapto_bus_sub_dropped(hub->sub) : 0;
    s->slow_disconnects = hub->st_slow_disc;
    s->refused = hub->st_refused;
    s->inputs = hub->st_inputs;
    s->input_errors = hub->st_input_errors;
    s->pub_to_hub_p50_us = hub_hist_pct(&hub->h_pub[0], &hub->h_pub[1], 50);
    s->pub_to_hub_p99_us = hub_hist_pct(&hub->h_pub[0], &hub->h_pub[1], 99);
    s->hub_to_send_p50_us = hub_hist_pct(&hub->h_send[0], &hub->h_send[1], 50);
    s->hub_to_send_p99_us = hub_hist_pct(&hub->h_send[0], &hub->h_send[1], 99);
}

void st_hub_get_stats(strapto_event_hub *hub, st_hub_stats *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!hub) return;
    stats_task t = {hub, out};
    st_ctx_run_sync(hub->ctx, hub->loop, stats_on_loop, &t);
}
