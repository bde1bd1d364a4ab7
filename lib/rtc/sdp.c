/* SDP parser and writer for WebRTC (see sdp.h).
 *
 * The parser reads remote input, so it is bounded and strict about syntax
 * (size, line length, character set, counts) while keeping every attribute it
 * does not understand. It works in three steps: split the text into lines and
 * check each one, interpret the lines into an sdp_session (session-level ICE /
 * DTLS values go into a pseudo section `sess`), then finish: inherit session
 * values, share values inside the BUNDLE group, and validate each section.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/internal.h"
#include "rtc/sdp.h"

/* Per-section state only needed while parsing. */
typedef struct {
    int line;            /* line number of the m= line */
    int sctp_port_attr;  /* a=sctp-port value, 0 if none */
    int sctpmap_port;    /* a=sctpmap port, 0 if none */
} sdp_media_state;

typedef struct {
    sdp_session *s;
    sdp_media sess;      /* session-level ICE/DTLS values, inherited by every section */
    sdp_media *m;        /* current section, NULL while at session level */
    sdp_media_state ms[SDP_MAX_MEDIA];
    int line, seen_v, seen_o, bundle_line;
    char msg[256];
} sdp_parser;

/* ------------------------------------------------------------------ helpers */

/* Record the failure as "line N: reason" (no prefix for line 0) and return code. */
__attribute__((format(printf, 4, 5)))
static int sdp_fail(sdp_parser *p, int line, int code, const char *fmt, ...)
{
    size_t off = 0;
    if (line > 0) off = (size_t)snprintf(p->msg, sizeof p->msg, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg + off, sizeof p->msg - off, fmt, ap);
    va_end(ap);
    return code;
}

/* A syntax error on the current line, or on a given one. */
#define SDP_BAD(p, ...) sdp_fail((p), (p)->line, STRAPTO_EPARSE, __VA_ARGS__)
#define SDP_BAD_AT(p, line, ...) sdp_fail((p), (line), STRAPTO_EPARSE, __VA_ARGS__)
#define SDP_BIG(p, ...) sdp_fail((p), (p)->line, STRAPTO_ETOOBIG, __VA_ARGS__)

static int sdp_nomem(sdp_parser *p) { return sdp_fail(p, p->line, STRAPTO_ENOMEM, "out of memory"); }

/* Decimal number, digits only: 0, -1 if not a number, -2 on overflow. */
static int sdp_parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* A port number 1..65535 (0 when allow_zero); -1 if not valid. */
static int sdp_parse_port(const char *s, int allow_zero)
{
    uint64_t v;
    if (sdp_parse_uint(s, &v) || v > 65535 || (v == 0 && !allow_zero)) return -1;
    return (int)v;
}

/* Next blank-separated token of *s, NUL-terminated in place; NULL at the end. */
static char *sdp_token(char **s)
{
    char *q = *s;
    while (*q == ' ' || *q == '\t') q++;
    if (!*q) { *s = q; return NULL; }
    char *t = q;
    while (*q && *q != ' ' && *q != '\t') q++;
    if (*q) *q++ = 0;
    *s = q;
    return t;
}

/* 1 if s is 1..max printable characters without blanks. */
static int sdp_is_word(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) return 0;
    return 1;
}

/* "AB:CD:..." into out (max bytes): byte count, -1 on bad hex, -2 if longer than max. */
static int sdp_parse_hex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    for (;;) {
        int hi = g_ascii_xdigit_value(s[0]), lo = hi < 0 ? -1 : g_ascii_xdigit_value(s[1]);
        if (hi < 0 || lo < 0) return -1;
        if (n == max) return -2;
        out[n++] = (uint8_t)(hi << 4 | lo);
        s += 2;
        if (!*s) return (int)n;
        if (*s++ != ':') return -1;
    }
}

/* Digest length in bytes of a fingerprint hash name, 0 if unknown. */
static size_t sdp_hash_len(const char *alg)
{
    static const struct { const char *name; size_t len; } hashes[] = {
        {"sha-1", 20}, {"sha-224", 28}, {"sha-256", 32}, {"sha-384", 48}, {"sha-512", 64},
    };
    for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++)
        if (!strcasecmp(alg, hashes[i].name)) return hashes[i].len;
    return 0;
}

/* Append {name, value} to a growable array (capacity 8, doubled at powers of two). */
static int sdp_attr_push(sdp_attr **arr, size_t *n, const char *name, const char *value)
{
    if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0)) {
        size_t cap = *n ? *n * 2 : 8;
        sdp_attr *na = realloc(*arr, cap * sizeof *na);
        if (!na) return -1;
        *arr = na;
    }
    sdp_attr *a = &(*arr)[*n];
    a->name = st_strdup(name);
    a->value = st_strdup(value);
    if (!a->name || (value && !a->value)) { free(a->name); free(a->value); return -1; }
    (*n)++;
    return 0;
}

static void sdp_attrs_free(sdp_attr *a, size_t n)
{
    for (size_t i = 0; i < n; i++) { free(a[i].name); free(a[i].value); }
    free(a);
}

static void sdp_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void sdp_media_clear(sdp_media *m)
{
    free(m->kind); free(m->proto); free(m->fmt); free(m->mid);
    free(m->ice_ufrag); free(m->ice_pwd); free(m->fingerprint_alg); free(m->direction);
    sdp_strv_free(m->candidates, m->n_candidates);
    sdp_attrs_free(m->attrs, m->n_attrs);
    memset(m, 0, sizeof *m);
}

void sdp_free(sdp_session *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_media; i++) sdp_media_clear(&s->media[i]);
    free(s->media);
    free(s->origin_sess_id);
    sdp_strv_free(s->bundle, s->n_bundle);
    sdp_attrs_free(s->attrs, s->n_attrs);
    free(s);
}

/* Index of the section with this mid, -1 if none. */
static int sdp_find_mid(const sdp_session *s, const char *mid)
{
    for (size_t i = 0; mid && i < s->n_media; i++)
        if (s->media[i].mid && !strcmp(s->media[i].mid, mid)) return (int)i;
    return -1;
}

/* ------------------------------------------------------ attribute handlers */

typedef int (*sdp_attr_fn)(sdp_parser *p, sdp_media *t, const char *name, char *v);

/* a=ice-ufrag / a=ice-pwd: one per level, up to 256 printable characters. */
static int h_ice(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    char **dst = !strcmp(name, "ice-ufrag") ? &t->ice_ufrag : &t->ice_pwd;
    if (*dst) return SDP_BAD(p, "duplicate a=%s", name);
    if (!sdp_is_word(v, 256)) return SDP_BAD(p, "%s: bad value", name);
    if (!(*dst = st_strdup(v))) return sdp_nomem(p);
    return 0;
}

/* a=fingerprint:<hash> <hex>. Several lines may be given (RFC 8122): each one
 * with a known hash is checked, the first is kept; unknown hashes are skipped. */
static int h_fingerprint(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    char *alg = sdp_token(&v), *hex = sdp_token(&v);
    if (!alg || !hex || sdp_token(&v)) return SDP_BAD(p, "fingerprint: expected '<hash> <hex>'");
    size_t want = sdp_hash_len(alg);
    if (!want) return 0;
    uint8_t fp[SDP_MAX_FINGERPRINT];
    int n = sdp_parse_hex(hex, fp, sizeof fp);
    if (n == -1) return SDP_BAD(p, "fingerprint: bad hex");
    if (n < 0 || (size_t)n != want) return SDP_BAD(p, "fingerprint: wrong length for %s", alg);
    t->n_fingerprints++;
    if (t->fingerprint_len) return 0;
    if (!(t->fingerprint_alg = st_strdup(alg))) return sdp_nomem(p);
    for (char *c = t->fingerprint_alg; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    memcpy(t->fingerprint, fp, want);
    t->fingerprint_len = want;
    return 0;
}

static int h_setup(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    static const char *const names[] = {NULL, "actpass", "active", "passive"};
    if (t->setup) return SDP_BAD(p, "duplicate a=setup");
    for (int i = SDP_SETUP_ACTPASS; i <= SDP_SETUP_PASSIVE; i++)
        if (!strcasecmp(v, names[i])) { t->setup = i; return 0; }
    return SDP_BAD(p, "setup: unknown value '%.40s'", v);
}

/* Flag attributes: a=ice-lite, a=end-of-candidates, a=bundle-only. */
static int h_flag(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    if (!strcmp(name, "ice-lite")) t->ice_lite = 1;
    else if (!strcmp(name, "bundle-only")) t->bundle_only = 1;
    else t->end_of_candidates = 1;
    return 0;
}

static int h_ice_options(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    for (char *o; (o = sdp_token(&v));)
        if (!strcmp(o, "trickle")) t->ice_trickle = 1;
    return 0;
}

static int h_direction(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    if (t->direction) return SDP_BAD(p, "more than one direction attribute");
    if (!(t->direction = st_strdup(name))) return sdp_nomem(p);
    return 0;
}

/* a=group:BUNDLE <mid>...: the first BUNDLE group is kept; other semantics ignored. */
static int h_group(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    sdp_session *s = p->s;
    char *sem = sdp_token(&v);
    if (!sem || strcmp(sem, "BUNDLE") || p->bundle_line) return 0;
    p->bundle_line = p->line;
    if (!(s->bundle = calloc(SDP_MAX_MEDIA, sizeof *s->bundle))) return sdp_nomem(p);
    for (char *mid; (mid = sdp_token(&v));) {
        if (s->n_bundle == SDP_MAX_MEDIA)
            return SDP_BIG(p, "BUNDLE: more than %d mids", SDP_MAX_MEDIA);
        for (size_t i = 0; i < s->n_bundle; i++)
            if (!strcmp(s->bundle[i], mid))
                return SDP_BAD(p, "BUNDLE: mid '%.40s' named twice", mid);
        if (!(s->bundle[s->n_bundle] = st_strdup(mid))) return sdp_nomem(p);
        s->n_bundle++;
    }
    return 0;
}

static int h_mid(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    if (t->mid) return SDP_BAD(p, "duplicate a=mid");
    if (!sdp_is_word(v, 256)) return SDP_BAD(p, "mid: bad value");
    if (sdp_find_mid(p->s, v) >= 0) return SDP_BAD(p, "mid '%.40s' used by two sections", v);
    if (!(t->mid = st_strdup(v))) return sdp_nomem(p);
    return 0;
}

static int h_sctp_port(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    sdp_media_state *st = &p->ms[p->s->n_media - 1];
    if (st->sctp_port_attr) return SDP_BAD(p, "duplicate a=sctp-port");
    int port = sdp_parse_port(v, 0);
    if (port < 0) return SDP_BAD(p, "sctp-port: not a port in 1..65535");
    st->sctp_port_attr = port;
    return 0;
}

/* Legacy a=sctpmap:<port> webrtc-datachannel [<streams>]. */
static int h_sctpmap(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    sdp_media_state *st = &p->ms[p->s->n_media - 1];
    char *port_s = sdp_token(&v), *app = sdp_token(&v);
    if (st->sctpmap_port) return SDP_BAD(p, "duplicate a=sctpmap");
    int port = port_s ? sdp_parse_port(port_s, 0) : -1;
    if (port < 0 || !app) return SDP_BAD(p, "sctpmap: expected '<port> <app>'");
    st->sctpmap_port = port;
    t->legacy_sctpmap = 1;
    return 0;
}

static int h_max_message_size(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    uint64_t n;
    if (t->max_message_size_present) return SDP_BAD(p, "duplicate a=max-message-size");
    int rc = sdp_parse_uint(v, &n);
    if (rc == -1) return SDP_BAD(p, "max-message-size: not a number");
    if (rc < 0 || n > SIZE_MAX) return SDP_BAD(p, "max-message-size: too large");
    t->max_message_size = (size_t)n;
    t->max_message_size_present = 1;
    return 0;
}

/* a=candidate:...: kept as text for the ICE layer, bounded in number. */
static int h_candidate(sdp_parser *p, sdp_media *t, const char *name, char *v)
{
    if (!*v) return SDP_BAD(p, "candidate: empty");
    if (t->n_candidates == SDP_MAX_CANDIDATES)
        return SDP_BIG(p, "more than %d candidates in a section", SDP_MAX_CANDIDATES);
    if (!t->candidates && !(t->candidates = calloc(SDP_MAX_CANDIDATES, sizeof *t->candidates)))
        return sdp_nomem(p);
    size_t n = strlen(v) + sizeof "candidate:";
    char *c = malloc(n);
    if (!c) return sdp_nomem(p);
    snprintf(c, n, "candidate:%s", v);
    t->candidates[t->n_candidates++] = c;
    return 0;
}

enum { SCOPE_ANY, SCOPE_SESSION, SCOPE_MEDIA };

static const struct {
    const char *name;
    sdp_attr_fn fn;
    int scope;       /* where the attribute means something; elsewhere only kept */
    int needs_value;
} sdp_handlers[] = {
    {"ice-ufrag", h_ice, SCOPE_ANY, 1},
    {"ice-pwd", h_ice, SCOPE_ANY, 1},
    {"fingerprint", h_fingerprint, SCOPE_ANY, 1},
    {"setup", h_setup, SCOPE_ANY, 1},
    {"ice-lite", h_flag, SCOPE_ANY, 0},
    {"ice-options", h_ice_options, SCOPE_ANY, 1},
    {"end-of-candidates", h_flag, SCOPE_ANY, 0},
    {"sendrecv", h_direction, SCOPE_ANY, 0},
    {"sendonly", h_direction, SCOPE_ANY, 0},
    {"recvonly", h_direction, SCOPE_ANY, 0},
    {"inactive", h_direction, SCOPE_ANY, 0},
    {"group", h_group, SCOPE_SESSION, 1},
    {"mid", h_mid, SCOPE_MEDIA, 1},
    {"sctp-port", h_sctp_port, SCOPE_MEDIA, 1},
    {"sctpmap", h_sctpmap, SCOPE_MEDIA, 1},
    {"max-message-size", h_max_message_size, SCOPE_MEDIA, 1},
    {"candidate", h_candidate, SCOPE_MEDIA, 1},
    {"bundle-only", h_flag, SCOPE_MEDIA, 0},
};

/* ------------------------------------------------------------- line types */

/* a=<name>[:<value>]: keep it, then interpret the ones we know. */
static int sdp_attr_line(sdp_parser *p, char *v)
{
    char *colon = strchr(v, ':');
    if (colon) *colon = 0;
    const char *name = v;
    char *value = colon ? colon + 1 : NULL;
    if (!*name) return SDP_BAD(p, "attribute without a name");
    int r = p->m ? sdp_attr_push(&p->m->attrs, &p->m->n_attrs, name, value)
                 : sdp_attr_push(&p->s->attrs, &p->s->n_attrs, name, value);
    if (r) return sdp_nomem(p);
    for (size_t i = 0; i < sizeof sdp_handlers / sizeof sdp_handlers[0]; i++) {
        if (strcmp(name, sdp_handlers[i].name)) continue;
        int scope = sdp_handlers[i].scope;
        if ((scope == SCOPE_MEDIA && !p->m) || (scope == SCOPE_SESSION && p->m)) return 0;
        if (sdp_handlers[i].needs_value && !value) return SDP_BAD(p, "a=%s needs a value", name);
        char empty[1] = "";
        return sdp_handlers[i].fn(p, p->m ? p->m : &p->sess, name, value ? value : empty);
    }
    return 0;
}

/* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address> */
static int sdp_origin_line(sdp_parser *p, char *v)
{
    if (p->seen_o++) return SDP_BAD(p, "duplicate o= line");
    char *user = sdp_token(&v), *id = sdp_token(&v), *ver = sdp_token(&v);
    if (!user || !id || !ver) return SDP_BAD(p, "o= line: too few fields");
    if (sdp_parse_uint(ver, &p->s->origin_version))
        return SDP_BAD(p, "o= line: bad session version");
    if (!(p->s->origin_sess_id = st_strdup(id))) return sdp_nomem(p);
    return 0;
}

/* m=<kind> <port>[/<count>] <proto> <fmt>... */
static int sdp_media_line(sdp_parser *p, char *v)
{
    sdp_session *s = p->s;
    if (s->n_media == SDP_MAX_MEDIA)
        return SDP_BIG(p, "more than %d media sections", SDP_MAX_MEDIA);
    char *kind = sdp_token(&v), *port_s = sdp_token(&v), *proto = sdp_token(&v);
    while (*v == ' ' || *v == '\t') v++;
    size_t fl = strlen(v);
    while (fl && (v[fl - 1] == ' ' || v[fl - 1] == '\t')) v[--fl] = 0;
    if (!kind || !port_s || !proto || !fl)
        return SDP_BAD(p, "m= line: expected '<media> <port> <proto> <fmt>'");
    char *slash = strchr(port_s, '/');
    if (slash) *slash = 0;
    int port = sdp_parse_port(port_s, 1);
    if (port < 0 || (slash && sdp_parse_port(slash + 1, 0) < 0))
        return SDP_BAD(p, "m= line: bad port");
    if (!s->media && !(s->media = calloc(SDP_MAX_MEDIA, sizeof *s->media))) return sdp_nomem(p);
    sdp_media *m = &s->media[s->n_media++];
    p->m = m;
    p->ms[s->n_media - 1].line = p->line;
    m->port = port;
    m->kind = st_strdup(kind);
    m->proto = st_strdup(proto);
    m->fmt = st_strdup(v);
    if (!m->kind || !m->proto || !m->fmt) return sdp_nomem(p);
    return 0;
}

/* Reject bytes that have no place in SDP text: NUL, controls other than TAB,
 * and invalid UTF-8. */
static int sdp_check_chars(sdp_parser *p, const char *l, size_t n)
{
    int high = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)l[i];
        if (c == 0) return SDP_BAD(p, "NUL byte");
        if ((c < 0x20 && c != '\t') || c == 0x7f) return SDP_BAD(p, "control character 0x%02x", c);
        high |= c & 0x80;
    }
    if (high && !g_utf8_validate(l, (gssize)n, NULL)) return SDP_BAD(p, "invalid UTF-8");
    return 0;
}

/* One line without its line end. Empty lines are skipped, trailing blanks dropped. */
static int sdp_line(sdp_parser *p, const char *l, size_t n)
{
    char v[SDP_MAX_LINE + 1];
    if (n == 0) return 0;
    if (n > SDP_MAX_LINE) return SDP_BIG(p, "line longer than %d bytes", SDP_MAX_LINE);
    int rc = sdp_check_chars(p, l, n);
    if (rc) return rc;
    while (n > 2 && (l[n - 1] == ' ' || l[n - 1] == '\t')) n--;
    if (n < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z')
        return SDP_BAD(p, "expected '<letter>=<value>'");
    if (!p->seen_v) {
        if (n != 3 || memcmp(l, "v=0", 3)) return SDP_BAD(p, "the first line must be v=0");
        p->seen_v = 1;
        return 0;
    }
    memcpy(v, l + 2, n - 2);
    v[n - 2] = 0;
    switch (l[0]) {
    case 'v': return SDP_BAD(p, "duplicate v= line");
    case 'o':
        if (p->m) return SDP_BAD(p, "o= line inside a media section");
        return sdp_origin_line(p, v);
    case 'm': return sdp_media_line(p, v);
    case 'a': return sdp_attr_line(p, v);
    default: return 0;   /* s= t= c= b= i= ...: not needed for WebRTC */
    }
}

static int sdp_parse_lines(sdp_parser *p, const char *text, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - pos;
        if (n && text[pos + n - 1] == '\r') n--;
        p->line++;
        int rc = sdp_line(p, text + pos, n);
        if (rc) return rc;
        pos = end + 1;
    }
    return 0;
}

/* ---------------------------------------------------------- finishing pass */

static int sdp_copy_str(char **dst, const char *src)
{
    if (*dst || !src) return 0;
    return (*dst = st_strdup(src)) ? 0 : -1;
}

/* ICE credentials from `from` where missing. both: take ufrag and pwd only
 * together (BUNDLE), else each on its own (session-level inheritance). */
static int sdp_inherit_ice(sdp_media *m, const sdp_media *from, int both)
{
    if (both && (m->ice_ufrag || m->ice_pwd)) return 0;
    return sdp_copy_str(&m->ice_ufrag, from->ice_ufrag) || sdp_copy_str(&m->ice_pwd, from->ice_pwd);
}

static int sdp_inherit_fingerprint(sdp_media *m, const sdp_media *from)
{
    if (m->fingerprint_len || !from->fingerprint_len) return 0;
    if (!(m->fingerprint_alg = st_strdup(from->fingerprint_alg))) return -1;
    memcpy(m->fingerprint, from->fingerprint, from->fingerprint_len);
    m->fingerprint_len = from->fingerprint_len;
    m->n_fingerprints = from->n_fingerprints;
    return 0;
}

static int sdp_in_bundle(const sdp_session *s, const char *mid)
{
    for (size_t i = 0; mid && i < s->n_bundle; i++)
        if (!strcmp(s->bundle[i], mid)) return 1;
    return 0;
}

/* Every BUNDLE mid must exist; bundled sections then share ICE/DTLS values
 * with the first bundled section that has them. */
static int sdp_finish_bundle(sdp_parser *p)
{
    sdp_session *s = p->s;
    const sdp_media *ice = NULL, *fp = NULL, *setup = NULL;
    for (size_t b = 0; b < s->n_bundle; b++)
        if (sdp_find_mid(s, s->bundle[b]) < 0)
            return SDP_BAD_AT(p, p->bundle_line, "BUNDLE names unknown mid '%.40s'", s->bundle[b]);
    for (size_t i = 0; i < s->n_media; i++) {
        const sdp_media *m = &s->media[i];
        if (!sdp_in_bundle(s, m->mid)) continue;
        if (!ice && m->ice_ufrag && m->ice_pwd) ice = m;
        if (!fp && m->fingerprint_len) fp = m;
        if (!setup && m->setup) setup = m;
    }
    for (size_t i = 0; i < s->n_media; i++) {
        sdp_media *m = &s->media[i];
        if (!sdp_in_bundle(s, m->mid)) continue;
        if ((ice && sdp_inherit_ice(m, ice, 1)) || (fp && sdp_inherit_fingerprint(m, fp)))
            return sdp_nomem(p);
        if (!m->setup && setup) m->setup = setup->setup;
    }
    return 0;
}

/* SCTP port and syntax: a=sctp-port, else a=sctpmap, else "DTLS/SCTP <port>". */
static int sdp_finish_sctp(sdp_parser *p, size_t i)
{
    sdp_media *m = &p->s->media[i];
    const sdp_media_state *st = &p->ms[i];
    int fmt_port = 0;
    if (!strcasecmp(m->proto, "DTLS/SCTP") && m->fmt[0] >= '0' && m->fmt[0] <= '9') {
        fmt_port = sdp_parse_port(m->fmt, 0);
        if (fmt_port < 0) return SDP_BAD_AT(p, st->line, "m= line: bad SCTP port");
        m->legacy_sctpmap = 1;
    }
    m->sctp_port = st->sctp_port_attr ? st->sctp_port_attr
                 : st->sctpmap_port ? st->sctpmap_port : fmt_port;
    return 0;
}

/* Checks for a section we are asked to take part in. */
static int sdp_validate_media(sdp_parser *p, size_t i)
{
    static const char *const app_protos[] = {"UDP/DTLS/SCTP", "DTLS/SCTP", "TCP/DTLS/SCTP"};
    const sdp_media *m = &p->s->media[i];
    int line = p->ms[i].line;
    if (!strcmp(m->kind, "application")) {
        size_t k = 0;
        while (k < 3 && strcasecmp(m->proto, app_protos[k])) k++;
        if (k == 3)
            return SDP_BAD_AT(p, line, "application section: unsupported proto '%.40s'", m->proto);
    }
    if (!m->ice_ufrag) return SDP_BAD_AT(p, line, "%s section: missing a=ice-ufrag", m->kind);
    if (!m->ice_pwd) return SDP_BAD_AT(p, line, "%s section: missing a=ice-pwd", m->kind);
    if (!m->fingerprint_len)
        return SDP_BAD_AT(p, line, "%s section: no a=fingerprint with a known hash", m->kind);
    return 0;
}

static int sdp_finish(sdp_parser *p)
{
    sdp_session *s = p->s;
    if (!p->seen_v) return SDP_BAD_AT(p, 0, "no v=0 line");
    if (s->n_media == 0) return SDP_BAD_AT(p, 0, "no m= section");
    for (size_t i = 0; i < s->n_media; i++) {
        sdp_media *m = &s->media[i];
        if (sdp_inherit_ice(m, &p->sess, 0) || sdp_inherit_fingerprint(m, &p->sess) ||
            sdp_copy_str(&m->direction, p->sess.direction))
            return sdp_nomem(p);
        if (!m->setup) m->setup = p->sess.setup;
        m->ice_lite |= p->sess.ice_lite;
        m->ice_trickle |= p->sess.ice_trickle;
        m->end_of_candidates |= p->sess.end_of_candidates;
    }
    int rc = sdp_finish_bundle(p);
    for (size_t i = 0; !rc && i < s->n_media; i++) {
        rc = sdp_finish_sctp(p, i);
        if (!rc && !sdp_media_rejected(&s->media[i])) rc = sdp_validate_media(p, i);
    }
    return rc;
}

int sdp_parse(const char *text, size_t len, sdp_session **out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (out) *out = NULL;
    if (!out || (!text && len)) {
        if (err && errlen) snprintf(err, errlen, "invalid argument");
        return STRAPTO_EINVAL;
    }
    sdp_parser p = {.s = calloc(1, sizeof(sdp_session))};
    int rc;
    if (!p.s) rc = sdp_nomem(&p);
    else if (len > SDP_MAX_TEXT) rc = SDP_BIG(&p, "SDP longer than %d bytes", SDP_MAX_TEXT);
    else if (len == 0) rc = SDP_BAD_AT(&p, 0, "empty SDP");
    else if (!(rc = sdp_parse_lines(&p, text, len))) rc = sdp_finish(&p);
    sdp_media_clear(&p.sess);
    if (rc) {
        ST_DEBUG("sdp", "refused: %s", p.msg);
        if (err && errlen) snprintf(err, errlen, "%s", p.msg);
        sdp_free(p.s);
    } else {
        *out = p.s;
    }
    return rc;
}

/* ------------------------------------------------------------------ queries */

int sdp_media_rejected(const sdp_media *m)
{
    return m->port == 0 && !m->bundle_only;
}

int sdp_find_application(const sdp_session *s)
{
    for (size_t i = 0; s && i < s->n_media; i++)
        if (!strcmp(s->media[i].kind, "application") && !sdp_media_rejected(&s->media[i]))
            return (int)i;
    return -1;
}

const char *sdp_media_attr(const sdp_media *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->n_attrs; i++)
        if (!strcmp(m->attrs[i].name, name)) return m->attrs[i].value ? m->attrs[i].value : "";
    return NULL;
}

char *sdp_fingerprint_hex(const uint8_t *fp, size_t len, char *buf, size_t buflen)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!buf || buflen < 1 || (len && buflen < 3 * len)) return NULL;
    buf[0] = 0;
    for (size_t i = 0; i < len; i++) {
        buf[3 * i] = hex[fp[i] >> 4];
        buf[3 * i + 1] = hex[fp[i] & 15];
        buf[3 * i + 2] = i + 1 < len ? ':' : 0;
    }
    return buf;
}

/* ------------------------------------------------------------------- writer */

typedef struct { char *buf; size_t len, cap; int bad; } sdp_sb;

__attribute__((format(printf, 2, 3)))
static void sb_printf(sdp_sb *b, const char *fmt, ...)
{
    while (!b->bad) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) { b->bad = 1; return; }
        if ((size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        size_t cap = b->cap * 2;
        while (cap <= b->len + (size_t)n) cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) { b->bad = 1; return; }
        b->buf = nb;
        b->cap = cap;
    }
}

/* A value that fits on one line (NULL allowed when optional). */
static int sdp_w_line(const char *s, int optional)
{
    return s ? !strpbrk(s, "\r\n") : optional;
}

/* A non-empty value without blanks or line ends (m= line fields, mids). */
static int sdp_w_token(const char *s, int optional)
{
    return s ? (*s && !strpbrk(s, " \t\r\n")) : optional;
}

static int sdp_w_valid(const sdp_write_desc *d)
{
    if (d->n_media > SDP_MAX_MEDIA || d->n_candidates > SDP_MAX_CANDIDATES) return 0;
    if (d->n_media && !d->media) return 0;
    if (d->n_candidates && !d->candidates) return 0;
    if (!sdp_w_line(d->ice_ufrag, 1) || !sdp_w_line(d->ice_pwd, 1) ||
        !sdp_w_line(d->fingerprint, 1) || !sdp_w_line(d->setup, 1)) return 0;
    for (size_t i = 0; i < d->n_candidates; i++)
        if (!sdp_w_line(d->candidates[i], 0)) return 0;
    for (size_t i = 0; i < d->n_media; i++) {
        const sdp_write_media *m = &d->media[i];
        size_t xl = m->extra ? strlen(m->extra) : 0;
        if (!sdp_w_token(m->kind, 0) || !sdp_w_token(m->proto, m->legacy_sctpmap) ||
            !sdp_w_token(m->mid, 1) || (!m->legacy_sctpmap && !(m->fmt && *m->fmt)) ||
            !sdp_w_line(m->fmt, 1) || m->sctp_port < 0 || m->sctp_port > 65535)
            return 0;
        if (xl && (xl < 2 || strcmp(m->extra + xl - 2, "\r\n"))) return 0;
    }
    return 1;
}

static void sdp_w_session(sdp_sb *b, const sdp_write_desc *d)
{
    sb_printf(b, "v=0\r\no=- %llu %llu IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
              (unsigned long long)d->sess_id, (unsigned long long)d->sess_version);
    int any = 0;
    for (size_t i = 0; i < d->n_media; i++) {
        const sdp_write_media *m = &d->media[i];
        if (m->rejected || !m->mid) continue;
        sb_printf(b, "%s %s", any ? "" : "a=group:BUNDLE", m->mid);
        any = 1;
    }
    if (any) sb_printf(b, "\r\n");
    if (d->ice_lite) sb_printf(b, "a=ice-lite\r\n");
    sb_printf(b, "a=msid-semantic: WMS *\r\n");
}

static void sdp_w_media(sdp_sb *b, const sdp_write_desc *d, const sdp_write_media *m)
{
    int sctp = m->legacy_sctpmap && !m->sctp_port ? 5000 : m->sctp_port;
    if (m->legacy_sctpmap)
        sb_printf(b, "m=%s %d DTLS/SCTP %d\r\n", m->kind, m->rejected ? 0 : 9, sctp);
    else
        sb_printf(b, "m=%s %d %s %s\r\n", m->kind, m->rejected ? 0 : 9, m->proto, m->fmt);
    sb_printf(b, "c=IN IP4 0.0.0.0\r\n");
    if (m->rejected) {
        if (m->mid) sb_printf(b, "a=mid:%s\r\n", m->mid);
        return;
    }
    if (d->ice_ufrag) sb_printf(b, "a=ice-ufrag:%s\r\n", d->ice_ufrag);
    if (d->ice_pwd) sb_printf(b, "a=ice-pwd:%s\r\n", d->ice_pwd);
    sb_printf(b, "a=ice-options:trickle\r\n");
    if (d->fingerprint) sb_printf(b, "a=fingerprint:%s\r\n", d->fingerprint);
    if (d->setup) sb_printf(b, "a=setup:%s\r\n", d->setup);
    if (m->mid) sb_printf(b, "a=mid:%s\r\n", m->mid);
    for (size_t i = 0; i < d->n_candidates; i++) {
        const char *c = d->candidates[i];
        sb_printf(b, "a=%s%s\r\n", strncmp(c, "candidate:", 10) ? "candidate:" : "", c);
    }
    if (d->end_of_candidates) sb_printf(b, "a=end-of-candidates\r\n");
    if (m->legacy_sctpmap) sb_printf(b, "a=sctpmap:%d webrtc-datachannel 1024\r\n", sctp);
    else if (sctp) sb_printf(b, "a=sctp-port:%d\r\n", sctp);
    if (m->max_message_size) sb_printf(b, "a=max-message-size:%zu\r\n", m->max_message_size);
    if (m->extra) sb_printf(b, "%s", m->extra);
}

char *sdp_write(const sdp_write_desc *d)
{
    if (!d || !sdp_w_valid(d)) {
        ST_WARN("sdp", "sdp_write: invalid description");
        return NULL;
    }
    sdp_sb b = {malloc(1024), 0, 1024, 0};
    if (!b.buf) return NULL;
    sdp_w_session(&b, d);
    for (size_t i = 0; i < d->n_media; i++) sdp_w_media(&b, d, &d->media[i]);
    if (b.bad) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}
