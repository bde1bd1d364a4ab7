/* libFuzzer target for lib/rtc/sdp.c.
 *
 * Parses the input. On failure the result must be a clean refusal (EPARSE or
 * ETOOBIG, a reason, no session). On success it writes an answer-like
 * description from the parsed values with sdp_write, and checks the property
 * that ties writer and parser together: what was written parses back to the
 * same values. Any mismatch aborts, so libFuzzer reports it as a crash.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Ilib $(pkg-config --cflags glib-2.0) \
 *     test/fuzz/fuzz_sdp.c lib/rtc/sdp.c lib/core/log.c lib/core/error.c \
 *     $(pkg-config --libs glib-2.0) -lpthread -o fuzz_sdp
 *   ./fuzz_sdp -max_len=65536 test/fuzz/corpus/fuzz_sdp
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strapto/common.h"
#include "rtc/sdp.h"

#define FUZZ_ASSERT(c) do { if (!(c)) { \
    fprintf(stderr, "fuzz_sdp: %s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

/* The setup an answerer would reply with, and the value that reply parses to. */
static const char *answer_setup(int offered, int *parsed)
{
    switch (offered) {
    case SDP_SETUP_ACTPASS: case SDP_SETUP_PASSIVE: *parsed = SDP_SETUP_ACTIVE; return "active";
    case SDP_SETUP_ACTIVE: *parsed = SDP_SETUP_PASSIVE; return "passive";
    default: *parsed = SDP_SETUP_NONE; return NULL;
    }
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* One written section parsed back (`r`) against what was written from `m`. */
static void check_section(const sdp_media *m, const sdp_media *r, const sdp_media *src, int setup)
{
    int rejected = sdp_media_rejected(m);
    FUZZ_ASSERT(same_str(r->kind, m->kind));
    FUZZ_ASSERT(same_str(r->mid, m->mid));
    FUZZ_ASSERT(sdp_media_rejected(r) == rejected);
    FUZZ_ASSERT(r->legacy_sctpmap == m->legacy_sctpmap);
    if (!m->legacy_sctpmap) {
        FUZZ_ASSERT(same_str(r->proto, m->proto));
        FUZZ_ASSERT(same_str(r->fmt, m->fmt));
    }
    if (rejected) return;
    FUZZ_ASSERT(r->port == 9);
    FUZZ_ASSERT(r->sctp_port == m->sctp_port);
    FUZZ_ASSERT(r->max_message_size == m->max_message_size);
    FUZZ_ASSERT(r->max_message_size_present == (m->max_message_size != 0));
    FUZZ_ASSERT(same_str(r->ice_ufrag, src->ice_ufrag) && same_str(r->ice_pwd, src->ice_pwd));
    FUZZ_ASSERT(same_str(r->fingerprint_alg, src->fingerprint_alg));
    FUZZ_ASSERT(r->fingerprint_len == src->fingerprint_len);
    FUZZ_ASSERT(!memcmp(r->fingerprint, src->fingerprint, src->fingerprint_len));
    FUZZ_ASSERT(r->setup == setup);
    FUZZ_ASSERT(r->n_candidates == src->n_candidates && r->ice_trickle == 1);
    for (size_t i = 0; i < r->n_candidates; i++)
        FUZZ_ASSERT(!strcmp(r->candidates[i], src->candidates[i]));
    FUZZ_ASSERT(r->end_of_candidates == src->end_of_candidates);
    FUZZ_ASSERT(r->ice_lite == src->ice_lite);
}

/* Write an answer-like SDP from the parsed session and check it parses back. */
static void write_and_reparse(const sdp_session *s)
{
    sdp_write_media wm[SDP_MAX_MEDIA];
    const sdp_media *src = NULL;     /* ICE/DTLS values come from the first live section */
    for (size_t i = 0; i < s->n_media; i++) {
        const sdp_media *m = &s->media[i];
        if (!src && !sdp_media_rejected(m)) src = m;
        wm[i] = (sdp_write_media){
            .kind = m->kind, .proto = m->proto, .fmt = m->fmt, .mid = m->mid,
            .rejected = sdp_media_rejected(m), .sctp_port = m->sctp_port,
            .legacy_sctpmap = m->legacy_sctpmap, .max_message_size = m->max_message_size,
        };
    }
    char fp[16 + 3 * SDP_MAX_FINGERPRINT];
    int setup = SDP_SETUP_NONE;
    sdp_write_desc d = {.sess_id = 1, .sess_version = s->origin_version, .media = wm,
                        .n_media = s->n_media};
    if (src) {
        size_t n = (size_t)snprintf(fp, sizeof fp, "%s ", src->fingerprint_alg);
        FUZZ_ASSERT(sdp_fingerprint_hex(src->fingerprint, src->fingerprint_len, fp + n, sizeof fp - n));
        d.ice_ufrag = src->ice_ufrag;
        d.ice_pwd = src->ice_pwd;
        d.fingerprint = fp;
        d.setup = answer_setup(src->setup, &setup);
        d.ice_lite = src->ice_lite;
        d.candidates = (const char *const *)src->candidates;
        d.n_candidates = src->n_candidates;
        d.end_of_candidates = src->end_of_candidates;
    }
    char *text = sdp_write(&d);
    FUZZ_ASSERT(text != NULL);            /* every parsed value must be writable */
    size_t len = strlen(text);
    sdp_session *r = NULL;
    char err[256];
    int rc = sdp_parse(text, len, &r, err, sizeof err);
    if (rc == STRAPTO_ETOOBIG && len > SDP_MAX_TEXT) {   /* candidates repeated per section */
        free(text);
        return;
    }
    if (rc) fprintf(stderr, "fuzz_sdp: reparse failed: %s\n--- written:\n%s", err, text);
    free(text);
    FUZZ_ASSERT(rc == 0 && r != NULL);
    FUZZ_ASSERT(r->n_media == s->n_media);
    FUZZ_ASSERT(r->origin_version == s->origin_version);
    for (size_t i = 0; i < s->n_media; i++)
        check_section(&s->media[i], &r->media[i], src, setup);
    sdp_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdp_session *s = (sdp_session *)1;
    char err[256] = "";
    int rc = sdp_parse((const char *)data, size, &s, err, sizeof err);
    if (rc) {
        FUZZ_ASSERT(rc == STRAPTO_EPARSE || rc == STRAPTO_ETOOBIG);
        FUZZ_ASSERT(s == NULL && err[0] != 0);
        return 0;
    }
    FUZZ_ASSERT(s != NULL && s->n_media >= 1 && s->n_media <= SDP_MAX_MEDIA);
    int app = sdp_find_application(s);
    FUZZ_ASSERT(app >= -1 && app < (int)s->n_media);
    for (size_t i = 0; i < s->n_media; i++) {
        const sdp_media *m = &s->media[i];
        FUZZ_ASSERT(m->n_candidates <= SDP_MAX_CANDIDATES);
        FUZZ_ASSERT(!m->mid || same_str(sdp_media_attr(m, "mid"), m->mid));
        FUZZ_ASSERT(sdp_media_rejected(m) || (m->ice_ufrag && m->ice_pwd && m->fingerprint_len));
    }
    write_and_reparse(s);
    sdp_free(s);
    return 0;
}
