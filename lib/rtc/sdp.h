/* SDP (RFC 8866) for WebRTC: a bounded, validating parser and a writer for
 * the offers/answers libstrapto produces (unified plan, BUNDLE, ICE, DTLS,
 * SCTP data channels in both the RFC 8841 and the legacy a=sctpmap syntax).
 *
 * Internal to the library (not installed). Plain malloc/free ownership:
 * everything reachable from an sdp_session is released by sdp_free().
 */
#ifndef STRAPTO_RTC_SDP_H
#define STRAPTO_RTC_SDP_H

#include <stddef.h>
#include <stdint.h>

#define SDP_MAX_TEXT (64 * 1024)
#define SDP_MAX_LINE 4096
#define SDP_MAX_MEDIA 32
#define SDP_MAX_CANDIDATES 64    /* per media section */
#define SDP_MAX_FINGERPRINT 64   /* bytes (sha-512) */

enum { SDP_SETUP_NONE = 0, SDP_SETUP_ACTPASS, SDP_SETUP_ACTIVE, SDP_SETUP_PASSIVE };

typedef struct { char *name; char *value; /* value NULL for flag attributes */ } sdp_attr;

typedef struct {
    char *kind;          /* "application", "audio", "video", other kinds kept as text */
    int port;            /* 0 = rejected (unless bundle_only) */
    char *proto;         /* e.g. "UDP/DTLS/SCTP", "DTLS/SCTP", "UDP/TLS/RTP/SAVPF" */
    char *fmt;           /* rest of the m= line after proto, e.g. "webrtc-datachannel", "5000", "111 0" */
    char *mid;           /* NULL if absent */
    char *ice_ufrag, *ice_pwd;      /* media-level, else copied from session level; NULL if neither */
    char *fingerprint_alg;          /* lower-case, e.g. "sha-256"; media-level else session-level */
    uint8_t fingerprint[SDP_MAX_FINGERPRINT];
    size_t fingerprint_len;
    int setup;           /* SDP_SETUP_*, media-level else session-level */
    int sctp_port;       /* a=sctp-port, or a=sctpmap port, or the legacy "DTLS/SCTP <port>" fmt; 0 if none */
    int legacy_sctpmap;  /* 1 if the section used the old DTLS/SCTP + a=sctpmap syntax */
    size_t max_message_size; /* 0 if absent (or written as 0: see max_message_size_present) */
    char **candidates;   /* "candidate:..." strings (no "a=" prefix), n_candidates of them */
    size_t n_candidates;
    int end_of_candidates;
    int ice_lite;        /* session or media a=ice-lite */
    int ice_trickle;     /* a=ice-options containing "trickle" at session or media level */
    char *direction;     /* "sendrecv"/"sendonly"/"recvonly"/"inactive" or NULL */
    sdp_attr *attrs;     /* every media-level a= line in order (for later media support) */
    size_t n_attrs;
    /* --- added --- */
    int max_message_size_present; /* 1 if a=max-message-size was given (0 there = no limit, RFC 8841) */
    size_t n_fingerprints;   /* a=fingerprint lines at the level the fingerprint came from */
    int bundle_only;         /* a=bundle-only: port 0 then does not mean rejected */
} sdp_media;

typedef struct {
    char *origin_sess_id;          /* o= line session id text; NULL without an o= line */
    uint64_t origin_version;
    char **bundle;                 /* mids of a=group:BUNDLE, n_bundle of them (first BUNDLE group) */
    size_t n_bundle;
    sdp_media *media;
    size_t n_media;
    sdp_attr *attrs;               /* session-level a= lines */
    size_t n_attrs;
} sdp_session;

/* Parse. Accepts \r\n or \n line ends. On failure returns STRAPTO_EPARSE (or STRAPTO_ETOOBIG
 * for the size bounds, STRAPTO_ENOMEM, STRAPTO_EINVAL for NULL arguments) and writes a
 * one-line reason like "line 7: fingerprint: bad hex" into err (if err != NULL).
 * *out is NULL on failure; on success the caller frees it with sdp_free(). */
int sdp_parse(const char *text, size_t len, sdp_session **out, char *err, size_t errlen);
void sdp_free(sdp_session *s);
/* 1 if the section is rejected: port 0 and no a=bundle-only. */
int sdp_media_rejected(const sdp_media *m);
/* Index of the first non-rejected application section, or -1. */
int sdp_find_application(const sdp_session *s);
/* Look up a media-level attribute value ("" for a flag) by name, NULL if absent. */
const char *sdp_media_attr(const sdp_media *m, const char *name);
/* Format a fingerprint as "AB:CD:..." (upper-case hex) into buf; returns buf, or NULL
 * when buf (3 * len bytes needed) is too small. */
char *sdp_fingerprint_hex(const uint8_t *fp, size_t len, char *buf, size_t buflen);

typedef struct {
    const char *kind;    /* "application", "audio", "video" */
    const char *proto;   /* e.g. "UDP/DTLS/SCTP" */
    const char *fmt;     /* e.g. "webrtc-datachannel" */
    const char *mid;     /* may be NULL (then no a=mid and not in BUNDLE) */
    int rejected;        /* write port 0 and only a=mid (used when answering sections we do not take) */
    int sctp_port;       /* application: written as a=sctp-port, or as a=sctpmap when legacy_sctpmap */
    int legacy_sctpmap;  /* write "DTLS/SCTP <port>" + a=sctpmap:<port> webrtc-datachannel 1024 */
    size_t max_message_size;  /* 0: not written */
    const char *extra;   /* raw extra lines ("a=...\r\n"...) appended to the section, may be NULL */
} sdp_write_media;

typedef struct {
    uint64_t sess_id, sess_version;
    const char *ice_ufrag, *ice_pwd;
    const char *fingerprint;     /* "sha-256 AB:CD:..." */
    const char *setup;           /* "actpass", "active", "passive" */
    int ice_lite;                /* unused by us today, write a=ice-lite when set */
    const sdp_write_media *media;
    size_t n_media;
    const char *const *candidates;  /* "candidate:..." strings, written in every non-rejected section */
    size_t n_candidates;
    int end_of_candidates;       /* write a=end-of-candidates */
} sdp_write_desc;

/* Write a complete SDP (CRLF line ends): v=0, o=- <id> <ver> IN IP4 127.0.0.1, s=-, t=0 0,
 * a=group:BUNDLE with every non-rejected mid, a=msid-semantic: WMS *; then per section:
 * m=<kind> 9 <proto> <fmt> (port 0 when rejected), c=IN IP4 0.0.0.0, a=ice-ufrag,
 * a=ice-pwd, a=ice-options:trickle, a=fingerprint, a=setup, a=mid, candidates,
 * end-of-candidates, sctp lines, a=max-message-size, extra.
 * NULL session strings (ufrag, pwd, fingerprint, setup) are left out. kind, proto and fmt
 * are required (fmt may be NULL for a legacy sctpmap section).
 * Returns a malloc'd NUL-terminated string, or NULL on out of memory or invalid input
 * (a required field missing, or CR/LF inside a one-line field; extra must end in CRLF). */
char *sdp_write(const sdp_write_desc *d);

#endif
