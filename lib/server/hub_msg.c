/* The event hub's messages: WebSocket frames built once and shared
 * (hub_msg), the wire text {"type","data","timestamp"}, and the replay
 * event for new clients (cached while the bus does not move). */
#include <stdlib.h>
#include <string.h>
#include "server/hub_int.h"

/* ---- messages ---- */

hub_msg *hub_msg_alloc(size_t text_len)
{
    if (text_len > SIZE_MAX - sizeof(hub_msg) - HUB_RESERVE - 1) return NULL;
    hub_msg *m = malloc(sizeof *m + HUB_RESERVE + text_len + 1);
    if (!m) return NULL;
    m->ref = 1;
    m->flags = 0;
    m->seq = 0;
    m->recv_us = 0;
    m->off = HUB_RESERVE;
    m->len = 0;
    m->text_len = text_len;
    m->buf[HUB_RESERVE + text_len] = 0;
    return m;
}

void hub_msg_seal(hub_msg *m, int opcode)
{
    size_t n = m->text_len, hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
    unsigned char *p = m->buf + HUB_RESERVE - hl;
    p[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (hl == 2) {
        p[1] = (unsigned char)n;
    } else if (hl == 4) {
        p[1] = 126;
        p[2] = (unsigned char)(n >> 8);
        p[3] = (unsigned char)n;
    } else {
        p[1] = 127;
        for (int i = 0; i < 8; i++) p[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    }
    m->off = HUB_RESERVE - hl;
    m->len = hl + n;
    m->buf[HUB_RESERVE + n] = 0;
}

hub_msg *hub_msg_text_new(const char *text, size_t len)
{
    hub_msg *m = hub_msg_alloc(len);
    if (!m) return NULL;
    memcpy(m->buf + HUB_RESERVE, text, len);
    hub_msg_seal(m, 1);
    return m;
}

void hub_msg_unref(hub_msg *m)
{
    if (m && --m->ref == 0) free(m);
}

/* JSON string body of s (without quotes) into dst (NULL: count only). */
static size_t json_escape(char *dst, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if (ch == '"' || ch == '\\') {
            if (dst) {
                dst[n] = '\\';
                dst[n + 1] = (char)ch;
            }
            n += 2;
        } else if (ch < 0x20 || ch == 0x7f) {
            if (dst) {
                memcpy(dst + n, "\\u00", 4);
                dst[n + 4] = hex[ch >> 4];
                dst[n + 5] = hex[ch & 15];
            }
            n += 6;
        } else {
            if (dst) dst[n] = (char)ch;
            n++;
        }
    }
    return n;
}

/* {"type":T,"data":D,"timestamp":"..."} */
static size_t event_format(char *dst, const char *type, size_t type_esc, const char *data, size_t data_len,
                           const char *ts)
{
    char *p = dst;
    memcpy(p, "{\"type\":\"", 9);
    p += 9;
    p += json_escape(p, type);
    (void)type_esc;
    memcpy(p, "\",\"data\":", 9);
    p += 9;
    memcpy(p, data, data_len);
    p += data_len;
    memcpy(p, ",\"timestamp\":\"", 14);
    p += 14;
    size_t tl = strlen(ts);
    memcpy(p, ts, tl);
    p += tl;
    memcpy(p, "\"}", 2);
    p += 2;
    return (size_t)(p - dst);
}

static size_t event_len(size_t type_esc, size_t data_len, size_t ts_len)
{
    return 9 + type_esc + 9 + data_len + 14 + ts_len + 2;
}

/* The ISO timestamp, with the date-time part cached per second (one loop
 * thread formats thousands of events a second). */
static void iso_cached(int64_t wall_us, char *buf, size_t len)
{
    static __thread int64_t last_sec = INT64_MIN;
    static __thread char last[32];
    int64_t sec = wall_us >= 0 ? wall_us / 1000000 : (wall_us - 999999) / 1000000;
    if (sec != last_sec) {
        st_iso8601(sec * 1000000, last, sizeof last);
        last_sec = sec;
    }
    int ms = (int)((wall_us - sec * 1000000) / 1000);
    /* last = "YYYY-MM-DDTHH:MM:SS.000Z": replace the milliseconds */
    size_t l = strlen(last);
    if (l < 5 || len < l + 1) {
        st_iso8601(wall_us, buf, len);
        return;
    }
    memcpy(buf, last, l + 1);
    buf[l - 4] = (char)('0' + ms / 100);
    buf[l - 3] = (char)('0' + ms / 10 % 10);
    buf[l - 2] = (char)('0' + ms % 10);
}

hub_msg *hub_msg_event(const char *type, const char *data, size_t data_len, int64_t wall_us)
{
    if (!data) {
        data = "{}";
        data_len = 2;
    }
    char ts[40];
    iso_cached(wall_us, ts, sizeof ts);
    size_t te = json_escape(NULL, type);
    hub_msg *m = hub_msg_alloc(event_len(te, data_len, strlen(ts)));
    if (!m) return NULL;
    m->text_len = event_format((char *)m->buf + HUB_RESERVE, type, te, data, data_len, ts);
    hub_msg_seal(m, 1);
    return m;
}

char *st_hub_wire_text(const char *type, const char *data_json, int64_t wall_us)
{
    if (!type) return NULL;
    const char *data = data_json ? data_json : "{}";
    char ts[40];
    st_iso8601(wall_us, ts, sizeof ts);
    size_t te = json_escape(NULL, type), dl = strlen(data);
    char *s = malloc(event_len(te, dl, strlen(ts)) + 1);
    if (!s) return NULL;
    s[event_format(s, type, te, data, dl, ts)] = 0;
    return s;
}

/* ---- replay ---- */

typedef struct {
    GString *s;
    uint64_t last;
    int n;
} replay_acc;

static void replay_one(const strapto_event *ev, void *user)
{
    replay_acc *a = user;
    char ts[40];
    iso_cached(ev->timestamp_us, ts, sizeof ts);
    size_t te = json_escape(NULL, ev->type), need = event_len(te, ev->payload_len, strlen(ts));
    if (a->n) g_string_append_c(a->s, ',');
    size_t at = a->s->len;
    g_string_set_size(a->s, at + need);
    g_string_truncate(a->s, at + event_format(a->s->str + at, ev->type, te, ev->payload, ev->payload_len, ts));
    a->last = ev->seq;
    a->n++;
}

hub_msg *hub_replay_msg(strapto_event_hub *hub, uint64_t *last_seq_out)
{
    uint64_t bus_seq = strapto_bus_last_seq(hub->bus);
    if (hub->replay && hub->replay_seq == bus_seq) {
        *last_seq_out = bus_seq;
        return hub_msg_ref(hub->replay);
    }
    replay_acc a = {g_string_sized_new(4096), 0, 0};
    g_string_append(a.s, "{\"events\":[");
    int rc = strapto_bus_replay(hub->bus, NULL, replay_one, &a);
    g_string_append(a.s, "]}");
    hub_msg *m = rc >= 0 ? hub_msg_event("replay", a.s->str, a.s->len, strapto_wall_us()) : NULL;
    g_string_free(a.s, TRUE);
    *last_seq_out = a.last;
    if (!m) return NULL;
    hub_msg_unref(hub->replay);
    hub->replay = hub_msg_ref(m);
    /* cache it only if it is complete up to now (a publish between the two reads
     * makes it stale for the next client) */
    hub->replay_seq = a.last == bus_seq || a.n == 0 ? a.last : UINT64_MAX;
    hub->replay_n = a.n;
    return m;
}

