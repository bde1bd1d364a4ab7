/* Unit tests for the SDP parser and writer (lib/rtc/sdp.c).
 *
 * - the fuzz corpus seeds (real Chromium, aiortc, legacy-syntax and Go2-like
 *   descriptions, embedded below) parse with the right values;
 * - inheritance (session level, BUNDLE), boundaries and odd-but-valid input;
 * - sdp_write output parses back to the same values, in both SCTP syntaxes;
 * - every file in SDP_MALFORMED_DIR (default test/unit/sdp_malformed) is
 *   refused with STRAPTO_EPARSE or STRAPTO_ETOOBIG and a reason; the files we
 *   know are refused for the reason their name gives.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include "testutil.h"
#include "strapto/common.h"
#include "rtc/sdp.h"

/* test/fuzz/corpus/fuzz_sdp/chromium_dc_offer.sdp */
static const char SEED_CHROMIUM_DC[] =
    "v=0\r\n"
    "o=- 1384702920963847788 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=application 54321 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 192.168.1.20\r\n"
    "a=candidate:2999745851 1 udp 2122260223 192.168.1.20 54321 typ host generation 0 network-id 1 network-cost 10\r\n"
    "a=candidate:1126491155 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active generation 0 network-id 1 network-cost 10\r\n"
    "a=ice-ufrag:Cs3j\r\n"
    "a=ice-pwd:O/cnFusc4mPh2hd8HFIKlsOY\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 E4:C0:FE:19:4B:CA:AA:9B:8F:52:77:4C:3E:34:FA:71:6D:FA:88:71:71:FC:4F:08:75:BB:D7:32:28:08:10:D8\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n";

/* test/fuzz/corpus/fuzz_sdp/aiortc_offer.sdp */
static const char SEED_AIORTC[] =
    "v=0\r\n"
    "o=- 4004311169 4004311169 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=msid-semantic:WMS *\r\n"
    "m=application 59158 DTLS/SCTP 5000\r\n"
    "c=IN IP4 192.0.2.2\r\n"
    "a=mid:0\r\n"
    "a=sctpmap:5000 webrtc-datachannel 65535\r\n"
    "a=max-message-size:65536\r\n"
    "a=candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 192.0.2.2 59158 typ host\r\n"
    "a=candidate:d0bcf3d9c29a2bc887618212a1623bfa 1 udp 2130706431 fd00::2 42588 typ host\r\n"
    "a=end-of-candidates\r\n"
    "a=ice-ufrag:zi8u\r\n"
    "a=ice-pwd:aiPpZ19edwnjI757MBSn1V\r\n"
    "a=fingerprint:sha-256 0E:86:08:49:6C:BA:6A:11:CA:87:A0:BA:8F:DE:5C:95:AD:F4:A2:9D:1F:3C:9B:04:0B:A7:F0:53:D7:4B:87:4B\r\n"
    "a=setup:actpass\r\n";

/* test/fuzz/corpus/fuzz_sdp/legacy_sctpmap_offer.sdp */
static const char SEED_LEGACY[] =
    "v=0\r\n"
    "o=- 5405423651431063393 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE data\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=application 9 DTLS/SCTP 5000\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Vq7L\r\n"
    "a=ice-pwd:1HR2HU9YVQtaq8MqgCUd3G1B\r\n"
    "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\r\n"
    "a=setup:actpass\r\n"
    "a=mid:data\r\n"
    "a=sctpmap:5000 webrtc-datachannel 1024\r\n";

/* test/fuzz/corpus/fuzz_sdp/chromium_av_dc_offer.sdp */
static const char SEED_CHROMIUM_AV[] =
    "v=0\r\n"
    "o=- 7625382308503959537 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1 2\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:nNqi\r\n"
    "a=ice-pwd:7YjjMswYhppccQsctzr8APvl\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 D9:D8:93:5A:B7:45:56:79:73:D7:97:02:BC:68:06:BC:80:D7:13:92:91:7D:E0:54:C2:72:CB:AF:7D:B8:3D:40\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=sendrecv\r\n"
    "a=msid:- 3094cee4-24b8-4687-afd5-808148e2a243\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtcp-xr:rcvr-rtt=all\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:3319212640 cname:vd6sJ+7XhNmkb5/K\r\n"
    "a=ssrc:3319212640 msid:- 3094cee4-24b8-4687-afd5-808148e2a243\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:nNqi\r\n"
    "a=ice-pwd:7YjjMswYhppccQsctzr8APvl\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 D9:D8:93:5A:B7:45:56:79:73:D7:97:02:BC:68:06:BC:80:D7:13:92:91:7D:E0:54:C2:72:CB:AF:7D:B8:3D:40\r\n"
    "a=setup:actpass\r\n"
    "a=mid:1\r\n"
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:13 urn:3gpp:video-orientation\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n"
    "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\r\n"
    "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\r\n"
    "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"
    "a=sendrecv\r\n"
    "a=msid:- b798b412-a075-453e-8565-5461129707d9\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtcp-xr:rcvr-rtt=all\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtcp-fb:96 goog-remb\r\n"
    "a=rtcp-fb:96 transport-cc\r\n"
    "a=rtcp-fb:96 ccm fir\r\n"
    "a=rtcp-fb:96 nack\r\n"
    "a=rtcp-fb:96 nack pli\r\n"
    "a=rtpmap:97 rtx/90000\r\n"
    "a=fmtp:97 apt=96\r\n"
    "a=rtpmap:102 H264/90000\r\n"
    "a=rtcp-fb:102 goog-remb\r\n"
    "a=rtcp-fb:102 transport-cc\r\n"
    "a=rtcp-fb:102 ccm fir\r\n"
    "a=rtcp-fb:102 nack\r\n"
    "a=rtcp-fb:102 nack pli\r\n"
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:103 rtx/90000\r\n"
    "a=fmtp:103 apt=102\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:nNqi\r\n"
    "a=ice-pwd:7YjjMswYhppccQsctzr8APvl\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 D9:D8:93:5A:B7:45:56:79:73:D7:97:02:BC:68:06:BC:80:D7:13:92:91:7D:E0:54:C2:72:CB:AF:7D:B8:3D:40\r\n"
    "a=setup:actpass\r\n"
    "a=mid:2\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n";

/* test/fuzz/corpus/fuzz_sdp/go2_answer.sdp */
static const char SEED_GO2[] =
    "v=0\r\n"
    "o=- 1558803594 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "a=msid-semantic: WMS myKvsVideoStream\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 101\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=candidate:0 1 udp 2130706431 192.168.12.1 45782 typ host raddr 0.0.0.0 rport 0 generation 0 network-cost 999\r\n"
    "a=msid:unitreeMediaStream unitreeVideoTrack\r\n"
    "a=ssrc:1977003214 cname:unitreeVideoCname\r\n"
    "a=ssrc:1977003214 msid:unitreeMediaStream unitreeVideoTrack\r\n"
    "a=ssrc:1977003214 mslabel:unitreeMediaStream\r\n"
    "a=ssrc:1977003214 label:unitreeVideoTrack\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:r2Nf\r\n"
    "a=ice-pwd:kT8s3XcQ0pLmV7bN1yHdJw4z\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 7B:1F:52:0D:9C:44:A3:E8:61:0B:F7:2C:95:D4:38:AE:02:6F:C1:B5:4A:E9:73:18:D0:8C:3F:66:27:B1:E5:90\r\n"
    "a=setup:active\r\n"
    "a=mid:0\r\n"
    "a=sendonly\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:101 H264/90000\r\n"
    "a=fmtp:101 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
    "a=rtcp-fb:101 nack\r\n"
    "a=rtcp-fb:101 goog-remb\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=candidate:0 1 udp 2130706431 192.168.12.1 45782 typ host raddr 0.0.0.0 rport 0 generation 0 network-cost 999\r\n"
    "a=ice-ufrag:r2Nf\r\n"
    "a=ice-pwd:kT8s3XcQ0pLmV7bN1yHdJw4z\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 7B:1F:52:0D:9C:44:A3:E8:61:0B:F7:2C:95:D4:38:AE:02:6F:C1:B5:4A:E9:73:18:D0:8C:3F:66:27:B1:E5:90\r\n"
    "a=setup:active\r\n"
    "a=mid:1\r\n"
    "a=sctp-port:5000\r\n";

#define HDR "v=0\r\no=- 42 7 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
#define FP256 "E4:C0:FE:19:4B:CA:AA:9B:8F:52:77:4C:3E:34:FA:71:6D:FA:88:71:71:FC:4F:08:75:BB:D7:32:28:08:10:D8"
#define ICE "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
#define APP "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"

/* ------------------------------------------------------------------ helpers */

static sdp_session *parse_len(const char *text, size_t len, const char *what)
{
    char err[256] = "";
    sdp_session *s = NULL;
    int rc = sdp_parse(text, len, &s, err, sizeof err);
    if (rc) fprintf(stderr, "%s: unexpected failure %d: %s\n", what, rc, err);
    CHECK_EQ_INT(rc, 0);
    CHECK(rc != 0 || s != NULL);
    return s;
}

static sdp_session *parse_ok(const char *text, const char *what)
{
    return parse_len(text, strlen(text), what);
}

/* Parsing must fail with `code` and a reason containing `needle` (if given). */
static void parse_fails(const char *text, size_t len, int code, const char *needle)
{
    char err[256] = "";
    sdp_session *s = (sdp_session *)1;
    int rc = sdp_parse(text, len, &s, err, sizeof err);
    CHECK_EQ_INT(rc, code);
    CHECK(s == NULL);
    CHECK(err[0] != 0);
    if (needle && !strstr(err, needle)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, needle);
        CHECK(!"expected reason");
    }
}

static void check_fp(const sdp_media *m, const char *alg, const char *hex)
{
    char buf[3 * SDP_MAX_FINGERPRINT];
    CHECK_STR(m->fingerprint_alg, alg);
    CHECK_STR(sdp_fingerprint_hex(m->fingerprint, m->fingerprint_len, buf, sizeof buf), hex);
}

/* A growable text buffer for generated SDPs. */
static char gen[256 * 1024];
static size_t gen_len;
static void gen_reset(void) { gen_len = 0; gen[0] = 0; }
static void gen_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void gen_add(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(gen + gen_len, sizeof gen - gen_len, fmt, ap);
    va_end(ap);
    REQUIRE(n >= 0 && (size_t)n < sizeof gen - gen_len);
    gen_len += (size_t)n;
}

/* ----------------------------------------------------------- corpus seeds */

static void test_chromium_dc(const char *text, const char *what)
{
    sdp_session *s = parse_ok(text, what);
    if (!s) return;
    CHECK_STR(s->origin_sess_id, "1384702920963847788");
    CHECK_EQ_INT(s->origin_version, 2);
    REQUIRE(s->n_bundle == 1);
    CHECK_STR(s->bundle[0], "0");
    CHECK_EQ_INT(s->n_attrs, 3);
    CHECK_STR(s->attrs[1].name, "extmap-allow-mixed");
    CHECK(s->attrs[1].value == NULL);
    CHECK_STR(s->attrs[2].value, " WMS");
    REQUIRE(s->n_media == 1);
    const sdp_media *m = &s->media[0];
    CHECK_STR(m->kind, "application");
    CHECK_EQ_INT(m->port, 54321);
    CHECK_STR(m->proto, "UDP/DTLS/SCTP");
    CHECK_STR(m->fmt, "webrtc-datachannel");
    CHECK_STR(m->mid, "0");
    CHECK_STR(m->ice_ufrag, "Cs3j");
    CHECK_STR(m->ice_pwd, "O/cnFusc4mPh2hd8HFIKlsOY");
    check_fp(m, "sha-256", FP256);
    CHECK_EQ_INT(m->n_fingerprints, 1);
    CHECK_EQ_INT(m->setup, SDP_SETUP_ACTPASS);
    CHECK_EQ_INT(m->sctp_port, 5000);
    CHECK_EQ_INT(m->legacy_sctpmap, 0);
    CHECK_EQ_INT(m->max_message_size, 262144);
    CHECK_EQ_INT(m->max_message_size_present, 1);
    REQUIRE(m->n_candidates == 2);
    CHECK_STR(m->candidates[0], "candidate:2999745851 1 udp 2122260223 192.168.1.20 54321 typ host "
                                "generation 0 network-id 1 network-cost 10");
    CHECK(!strncmp(m->candidates[1], "candidate:1126491155 1 tcp ", 27));
    CHECK_EQ_INT(m->end_of_candidates, 0);
    CHECK_EQ_INT(m->ice_trickle, 1);
    CHECK_EQ_INT(m->ice_lite, 0);
    CHECK(m->direction == NULL);
    CHECK_EQ_INT(m->n_attrs, 10);
    CHECK_STR(sdp_media_attr(m, "ice-options"), "trickle");
    CHECK(sdp_media_attr(m, "rtcp-mux") == NULL);
    CHECK_EQ_INT(sdp_find_application(s), 0);
    sdp_free(s);
}

static void test_aiortc(void)
{
    sdp_session *s = parse_ok(SEED_AIORTC, "aiortc");
    if (!s) return;
    CHECK_STR(s->origin_sess_id, "4004311169");
    CHECK_EQ_INT(s->origin_version, 4004311169u);
    REQUIRE(s->n_media == 1);
    const sdp_media *m = &s->media[0];
    CHECK_EQ_INT(m->port, 59158);
    CHECK_STR(m->proto, "DTLS/SCTP");
    CHECK_STR(m->fmt, "5000");
    CHECK_EQ_INT(m->legacy_sctpmap, 1);
    CHECK_EQ_INT(m->sctp_port, 5000);
    CHECK_STR(sdp_media_attr(m, "sctpmap"), "5000 webrtc-datachannel 65535");
    CHECK_EQ_INT(m->max_message_size, 65536);
    CHECK_EQ_INT(m->n_candidates, 2);
    CHECK_STR(m->candidates[1], "candidate:d0bcf3d9c29a2bc887618212a1623bfa 1 udp 2130706431 fd00::2 "
                                "42588 typ host");
    CHECK_EQ_INT(m->end_of_candidates, 1);
    CHECK_EQ_INT(m->ice_trickle, 0);
    CHECK_STR(m->ice_ufrag, "zi8u");
    CHECK_STR(m->ice_pwd, "aiPpZ19edwnjI757MBSn1V");
    check_fp(m, "sha-256", "0E:86:08:49:6C:BA:6A:11:CA:87:A0:BA:8F:DE:5C:95:AD:F4:A2:9D:1F:3C:"
                           "9B:04:0B:A7:F0:53:D7:4B:87:4B");
    CHECK_EQ_INT(m->setup, SDP_SETUP_ACTPASS);
    CHECK_EQ_INT(sdp_find_application(s), 0);
    sdp_free(s);
}

static void test_legacy(void)
{
    sdp_session *s = parse_ok(SEED_LEGACY, "legacy");
    if (!s) return;
    REQUIRE(s->n_media == 1 && s->n_bundle == 1);
    CHECK_STR(s->bundle[0], "data");
    const sdp_media *m = &s->media[0];
    CHECK_STR(m->mid, "data");
    CHECK_EQ_INT(m->legacy_sctpmap, 1);
    CHECK_EQ_INT(m->sctp_port, 5000);
    CHECK_EQ_INT(m->max_message_size_present, 0);
    check_fp(m, "sha-1", "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB");
    CHECK_EQ_INT(m->fingerprint_len, 20);
    CHECK_EQ_INT(m->n_candidates, 0);
    sdp_free(s);
}

static void test_chromium_av(void)
{
    sdp_session *s = parse_ok(SEED_CHROMIUM_AV, "chromium a/v");
    if (!s) return;
    REQUIRE(s->n_media == 3 && s->n_bundle == 3);
    static const char *const kinds[] = {"audio", "video", "application"};
    static const char *const mids[] = {"0", "1", "2"};
    for (int i = 0; i < 3; i++) {
        const sdp_media *m = &s->media[i];
        CHECK_STR(m->kind, kinds[i]);
        CHECK_STR(m->mid, mids[i]);
        CHECK_STR(s->bundle[i], mids[i]);
        CHECK_STR(m->ice_ufrag, "nNqi");
        CHECK_EQ_INT(m->fingerprint_len, 32);
        CHECK_EQ_INT(m->setup, SDP_SETUP_ACTPASS);
        CHECK_EQ_INT(m->port, 9);
    }
    const sdp_media *a = &s->media[0], *v = &s->media[1];
    CHECK_STR(a->proto, "UDP/TLS/RTP/SAVPF");
    CHECK_STR(a->fmt, "111 63 9 0 8 13 110 126");
    CHECK_STR(a->direction, "sendrecv");
    CHECK_STR(sdp_media_attr(a, "rtcp-mux"), "");
    CHECK_STR(sdp_media_attr(a, "rtpmap"), "111 opus/48000/2");
    CHECK_STR(sdp_media_attr(a, "rtcp"), "9 IN IP4 0.0.0.0");
    CHECK_EQ_INT(a->sctp_port, 0);
    CHECK_EQ_INT(a->n_attrs, 29);
    CHECK_STR(v->fmt, "96 97 102 103");
    CHECK_STR(sdp_media_attr(v, "fmtp"), "97 apt=96");
    CHECK_EQ_INT(s->media[2].sctp_port, 5000);
    CHECK_EQ_INT(sdp_find_application(s), 2);
    sdp_free(s);
}

static void test_go2(void)
{
    sdp_session *s = parse_ok(SEED_GO2, "go2 answer");
    if (!s) return;
    CHECK_STR(s->origin_sess_id, "1558803594");
    CHECK_STR(s->attrs[1].value, " WMS myKvsVideoStream");
    REQUIRE(s->n_media == 2);
    const sdp_media *v = &s->media[0], *d = &s->media[1];
    CHECK_STR(v->fmt, "101");
    CHECK_STR(v->direction, "sendonly");
    CHECK_STR(sdp_media_attr(v, "msid"), "unitreeMediaStream unitreeVideoTrack");
    CHECK_STR(d->proto, "UDP/DTLS/SCTP");
    CHECK_EQ_INT(d->setup, SDP_SETUP_ACTIVE);
    CHECK_EQ_INT(d->sctp_port, 5000);
    CHECK_EQ_INT(d->legacy_sctpmap, 0);
    CHECK_EQ_INT(d->max_message_size, 0);
    CHECK_EQ_INT(d->max_message_size_present, 0);
    REQUIRE(d->n_candidates == 1);
    CHECK_STR(d->candidates[0], "candidate:0 1 udp 2130706431 192.168.12.1 45782 typ host raddr "
                                "0.0.0.0 rport 0 generation 0 network-cost 999");
    CHECK_STR(d->ice_pwd, "kT8s3XcQ0pLmV7bN1yHdJw4z");
    CHECK_EQ_INT(sdp_find_application(s), 1);
    sdp_free(s);
}

/* The Chromium offer with bare \n line ends and no final line end. */
static void test_lf_line_ends(void)
{
    gen_reset();
    for (const char *c = SEED_CHROMIUM_DC; *c; c++)
        if (*c != '\r') gen_add("%c", *c);
    gen[--gen_len] = 0;
    test_chromium_dc(gen, "LF line ends");
}

/* ------------------------------------------------- inheritance, odd input */

/* Session-level ICE/DTLS values reach every section; media level wins.
 * Trailing blanks on a line are tolerated. */
static void test_session_level(void)
{
    const char *text = HDR "a=ice-ufrag:sess\r\na=ice-pwd:sessionpassword0123456\r\n"
        "a=fingerprint:sha-256 " FP256 "\r\na=setup:passive\r\na=ice-lite\r\n"
        "a=ice-options:renomination trickle\r\na=recvonly \t\r\n"
        APP "a=mid:d\r\n"
        "m=audio 9 RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:a \r\na=ice-ufrag:own1  \r\n"
        "a=setup:active\r\na=inactive\r\n";
    sdp_session *s = parse_ok(text, "session level");
    if (!s) return;
    REQUIRE(s->n_media == 2);
    const sdp_media *d = &s->media[0], *a = &s->media[1];
    CHECK_STR(d->ice_ufrag, "sess");
    CHECK_STR(d->ice_pwd, "sessionpassword0123456");
    check_fp(d, "sha-256", FP256);
    CHECK_EQ_INT(d->setup, SDP_SETUP_PASSIVE);
    CHECK_EQ_INT(d->ice_lite, 1);
    CHECK_EQ_INT(d->ice_trickle, 1);
    CHECK_STR(d->direction, "recvonly");
    CHECK_EQ_INT(d->sctp_port, 0);
    CHECK_STR(a->ice_ufrag, "own1");
    CHECK_STR(a->mid, "a");
    CHECK_STR(sdp_media_attr(a, "mid"), "a");
    CHECK_STR(a->ice_pwd, "sessionpassword0123456");
    CHECK_EQ_INT(a->setup, SDP_SETUP_ACTIVE);
    CHECK_STR(a->direction, "inactive");
    CHECK(s->n_bundle == 0);
    sdp_free(s);
}

/* A BUNDLEd section without ICE/DTLS lines takes them from the first bundled
 * section that has them; a=bundle-only keeps a port-0 section alive. */
static void test_bundle_fill(void)
{
    const char *text = HDR "a=group:BUNDLE a d\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n" ICE
        "a=fingerprint:sha-512 " FP256 ":" FP256 "\r\na=setup:actpass\r\na=mid:a\r\n"
        "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\n"
        "a=mid:d\r\na=max-message-size:0\r\na=sctp-port:5001\r\n"
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\n";
    sdp_session *s = parse_ok(text, "bundle fill");
    if (!s) return;
    REQUIRE(s->n_media == 3);
    const sdp_media *d = &s->media[1];
    CHECK_EQ_INT(d->port, 0);
    CHECK_EQ_INT(d->bundle_only, 1);
    CHECK_EQ_INT(sdp_media_rejected(d), 0);
    CHECK_STR(d->ice_ufrag, "abcd");
    CHECK_STR(d->ice_pwd, "0123456789abcdefghijkl");
    check_fp(d, "sha-512", FP256 ":" FP256);
    CHECK_EQ_INT(d->setup, SDP_SETUP_ACTPASS);
    CHECK_EQ_INT(d->max_message_size, 0);
    CHECK_EQ_INT(d->max_message_size_present, 1);
    CHECK_EQ_INT(d->sctp_port, 5001);
    CHECK_EQ_INT(sdp_find_application(s), 1);
    CHECK_EQ_INT(sdp_media_rejected(&s->media[2]), 1);
    CHECK(s->media[2].ice_ufrag == NULL);   /* rejected and not bundled: nothing to fill */
    sdp_free(s);
}

/* Several fingerprints: unknown hashes skipped, the first known one kept. */
static void test_fingerprints(void)
{
    const char *text = HDR APP ICE "a=mid:0\r\na=fingerprint:x-future-hash 01:02\r\n"
        "a=fingerprint:SHA-256 " FP256 "\r\n"
        "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\r\n";
    sdp_session *s = parse_ok(text, "fingerprints");
    if (!s) return;
    check_fp(&s->media[0], "sha-256", FP256);
    CHECK_EQ_INT(s->media[0].n_fingerprints, 2);
    sdp_free(s);
}

/* Rejected sections are not validated; unknown lines and attributes are kept. */
static void test_rejected_and_unknown(void)
{
    const char *text = HDR "i=info\r\nu=http://x\r\nb=AS:30\r\na=x-session:1\r\n"
        "m=application 0 FOO/BAR 5000\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
        "m=text 0 RTP/AVP 98\r\na=x-utf8:Zo\xc3\xab \xe2\x82\xac\r\na=x-empty:\r\n";
    sdp_session *s = parse_ok(text, "rejected");
    if (!s) return;
    CHECK_EQ_INT(sdp_find_application(s), -1);
    REQUIRE(s->n_media == 2);
    CHECK_STR(s->media[1].kind, "text");
    CHECK_STR(sdp_media_attr(&s->media[1], "x-utf8"), "Zo\xc3\xab \xe2\x82\xac");
    CHECK_STR(sdp_media_attr(&s->media[1], "x-empty"), "");
    CHECK(s->media[1].attrs[1].value != NULL);
    CHECK_STR(s->attrs[0].name, "x-session");
    CHECK(s->origin_sess_id != NULL);
    sdp_free(s);
}

/* Bounds: exactly at each limit passes, one past it fails. */
static void test_bounds(void)
{
    const char *base = HDR APP ICE "a=fingerprint:sha-256 " FP256 "\r\na=mid:0\r\n";
    gen_reset();                                   /* a line of exactly SDP_MAX_LINE bytes */
    gen_add("%sa=x-long:", base);
    for (size_t i = strlen("a=x-long:"); i < SDP_MAX_LINE; i++) gen_add("y");
    gen_add("\r\n");
    sdp_free(parse_len(gen, gen_len, "max line"));
    gen[gen_len - 2] = 'z'; gen[gen_len - 1] = '\r'; gen_add("\n");
    parse_fails(gen, gen_len, STRAPTO_ETOOBIG, "longer than");

    gen_reset();                                   /* SDP_MAX_CANDIDATES candidates */
    gen_add("%s", base);
    for (int i = 0; i < SDP_MAX_CANDIDATES; i++)
        gen_add("a=candidate:%d 1 udp 2122260223 10.0.0.%d 4000 typ host\r\n", i, i + 1);
    sdp_session *s = parse_len(gen, gen_len, "max candidates");
    if (s) CHECK_EQ_INT(s->media[0].n_candidates, SDP_MAX_CANDIDATES);
    sdp_free(s);
    gen_add("a=candidate:x 1 udp 1 10.0.1.1 4000 typ host\r\n");
    parse_fails(gen, gen_len, STRAPTO_ETOOBIG, "candidates");

    gen_reset();                                   /* SDP_MAX_MEDIA sections */
    gen_add("%s", base);
    for (int i = 1; i < SDP_MAX_MEDIA; i++) gen_add("m=audio 0 RTP/AVP 0\r\na=mid:m%d\r\n", i);
    s = parse_len(gen, gen_len, "max media");
    if (s) CHECK_EQ_INT(s->n_media, SDP_MAX_MEDIA);
    sdp_free(s);
    gen_add("m=audio 0 RTP/AVP 0\r\n");
    parse_fails(gen, gen_len, STRAPTO_ETOOBIG, "media sections");

    gen_reset();                                   /* whole text bound */
    gen_add("%s", base);
    while (gen_len <= SDP_MAX_TEXT) gen_add("a=x-pad:0123456789012345678901234567890123456789\r\n");
    parse_fails(gen, gen_len, STRAPTO_ETOOBIG, "longer than");
    parse_fails(gen, 0, STRAPTO_EPARSE, "empty");
}

static void test_api_misuse(void)
{
    sdp_session *s = NULL;
    char err[8];
    CHECK_EQ_INT(sdp_parse(NULL, 4, &s, NULL, 0), STRAPTO_EINVAL);
    CHECK_EQ_INT(sdp_parse("v=0\n", 4, NULL, NULL, 0), STRAPTO_EINVAL);
    CHECK_EQ_INT(sdp_parse("v=0\n", 4, &s, NULL, 0), STRAPTO_EPARSE);   /* no err buffer */
    CHECK_EQ_INT(sdp_parse("x", 1, &s, err, sizeof err), STRAPTO_EPARSE); /* short buffer */
    CHECK_EQ_INT(strlen(err), sizeof err - 1);
    CHECK(s == NULL);
    sdp_free(NULL);
    CHECK_EQ_INT(sdp_find_application(NULL), -1);
    CHECK(sdp_media_attr(NULL, "mid") == NULL);
    uint8_t fp[2] = {0xab, 0x01};
    char small[5], ok[6];
    CHECK(sdp_fingerprint_hex(fp, 2, small, sizeof small) == NULL);
    CHECK_STR(sdp_fingerprint_hex(fp, 2, ok, sizeof ok), "AB:01");
}

/* ------------------------------------------------------------------ writer */

static const char *const CANDS[] = {
    "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
    "1 1 udp 1694498815 203.0.113.7 40001 typ srflx raddr 127.0.0.1 rport 40000",  /* no prefix */
};

/* Every line ends in CRLF and nothing follows the last one. */
static void check_crlf(const char *t)
{
    for (const char *c = t; *c; c++)
        if (*c == '\n' && (c == t || c[-1] != '\r')) { CHECK(!"bare LF"); return; }
    size_t n = strlen(t);
    CHECK(n >= 2 && !strcmp(t + n - 2, "\r\n"));
}

static void test_write_roundtrip(void)
{
    const sdp_write_media media[] = {
        {.kind = "audio", .proto = "UDP/TLS/RTP/SAVPF", .fmt = "111", .mid = "a0", .rejected = 1},
        {.kind = "application", .proto = "UDP/DTLS/SCTP", .fmt = "webrtc-datachannel", .mid = "dc",
         .sctp_port = 5000, .max_message_size = 262144, .extra = "a=x-test:1\r\na=sendrecv\r\n"},
        {.kind = "video", .proto = "UDP/TLS/RTP/SAVPF", .fmt = "96 97", .mid = "v1",
         .extra = "a=rtpmap:96 VP8/90000\r\na=recvonly\r\n"},
    };
    const sdp_write_desc d = {
        .sess_id = 18446744073709551615u, .sess_version = 3, .ice_ufrag = "abcd",
        .ice_pwd = "0123456789abcdefghijkl", .fingerprint = "sha-256 " FP256, .setup = "actpass",
        .media = media, .n_media = 3, .candidates = CANDS, .n_candidates = 2,
        .end_of_candidates = 1,
    };
    char *text = sdp_write(&d);
    REQUIRE(text != NULL);
    check_crlf(text);
    CHECK(!strncmp(text, "v=0\r\no=- 18446744073709551615 3 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", 58));
    CHECK(strstr(text, "\r\na=group:BUNDLE dc v1\r\n") != NULL);
    CHECK(strstr(text, "\r\na=msid-semantic: WMS *\r\n") != NULL);
    CHECK(strstr(text, "\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a0\r\nm=") != NULL);
    sdp_session *s = parse_ok(text, "written offer");
    free(text);
    if (!s) return;
    CHECK_STR(s->origin_sess_id, "18446744073709551615");
    CHECK_EQ_INT(s->origin_version, 3);
    REQUIRE(s->n_bundle == 2 && s->n_media == 3);
    CHECK_STR(s->bundle[0], "dc");
    CHECK_STR(s->bundle[1], "v1");
    const sdp_media *a = &s->media[0];
    CHECK_EQ_INT(a->port, 0);
    CHECK_EQ_INT(sdp_media_rejected(a), 1);
    CHECK_STR(a->mid, "a0");
    CHECK(a->ice_ufrag == NULL && a->fingerprint_len == 0 && a->n_candidates == 0);
    CHECK_EQ_INT(a->n_attrs, 1);
    for (int i = 1; i < 3; i++) {
        const sdp_media *m = &s->media[i];
        CHECK_STR(m->kind, media[i].kind);
        CHECK_EQ_INT(m->port, 9);
        CHECK_STR(m->proto, media[i].proto);
        CHECK_STR(m->fmt, media[i].fmt);
        CHECK_STR(m->mid, media[i].mid);
        CHECK_STR(m->ice_ufrag, "abcd");
        CHECK_STR(m->ice_pwd, "0123456789abcdefghijkl");
        check_fp(m, "sha-256", FP256);
        CHECK_EQ_INT(m->setup, SDP_SETUP_ACTPASS);
        REQUIRE(m->n_candidates == 2);
        CHECK_STR(m->candidates[0], CANDS[0]);
        CHECK_STR(m->candidates[1], "candidate:1 1 udp 1694498815 203.0.113.7 40001 typ srflx "
                                    "raddr 127.0.0.1 rport 40000");
        CHECK_EQ_INT(m->end_of_candidates, 1);
        CHECK_EQ_INT(m->ice_trickle, 1);
        CHECK_EQ_INT(m->ice_lite, 0);
        CHECK_EQ_INT(m->legacy_sctpmap, 0);
        CHECK_EQ_INT(m->sctp_port, media[i].sctp_port);
        CHECK_EQ_INT(m->max_message_size, media[i].max_message_size);
        CHECK_EQ_INT(m->max_message_size_present, media[i].max_message_size != 0);
    }
    CHECK_STR(s->media[1].direction, "sendrecv");
    CHECK_STR(sdp_media_attr(&s->media[1], "x-test"), "1");
    CHECK_STR(s->media[2].direction, "recvonly");
    CHECK_STR(sdp_media_attr(&s->media[2], "rtpmap"), "96 VP8/90000");
    CHECK_EQ_INT(sdp_find_application(s), 1);
    sdp_free(s);
}

/* The old syntax: "DTLS/SCTP <port>" + a=sctpmap, whatever proto/fmt say. */
static void test_write_legacy(void)
{
    for (int port = 0; port <= 5001; port += 5001) {
        const sdp_write_media media[] = {
            {.kind = "application", .proto = "UDP/DTLS/SCTP", .fmt = "webrtc-datachannel",
             .mid = "data", .sctp_port = port, .legacy_sctpmap = 1},
        };
        const sdp_write_desc d = {
            .sess_id = 1, .sess_version = 2, .ice_ufrag = "Vq7L", .ice_pwd = "1HR2HU9YVQtaq8MqgCUd3G1B",
            .fingerprint = "sha-256 " FP256, .setup = "active", .ice_lite = 1, .media = media,
            .n_media = 1,
        };
        char *text = sdp_write(&d);
        REQUIRE(text != NULL);
        check_crlf(text);
        int want = port ? port : 5000;
        char line[64];
        snprintf(line, sizeof line, "m=application 9 DTLS/SCTP %d\r\n", want);
        CHECK(strstr(text, line) != NULL);
        CHECK(strstr(text, "a=max-message-size") == NULL);
        sdp_session *s = parse_ok(text, "written legacy offer");
        free(text);
        if (!s) continue;
        const sdp_media *m = &s->media[0];
        CHECK_STR(m->proto, "DTLS/SCTP");
        CHECK_EQ_INT(m->legacy_sctpmap, 1);
        CHECK_EQ_INT(m->sctp_port, want);
        snprintf(line, sizeof line, "%d webrtc-datachannel 1024", want);
        CHECK_STR(sdp_media_attr(m, "sctpmap"), line);
        CHECK_EQ_INT(m->max_message_size_present, 0);
        CHECK_EQ_INT(m->setup, SDP_SETUP_ACTIVE);
        CHECK_EQ_INT(m->ice_lite, 1);
        CHECK_EQ_INT(m->n_candidates, 0);
        CHECK_EQ_INT(m->end_of_candidates, 0);
        CHECK(s->n_bundle == 1 && !strcmp(s->bundle[0], "data"));
        sdp_free(s);
    }
}

/* Input that would produce a broken SDP is refused. */
static void test_write_invalid(void)
{
    sdp_write_media m = {.kind = "application", .proto = "UDP/DTLS/SCTP", .fmt = "webrtc-datachannel"};
    sdp_write_desc d = {.media = &m, .n_media = 1};
    char *t = sdp_write(&d);
    CHECK(t != NULL);
    free(t);
    CHECK(sdp_write(NULL) == NULL);
    m.mid = "a b";                          CHECK(sdp_write(&d) == NULL);
    m.mid = NULL; m.kind = NULL;            CHECK(sdp_write(&d) == NULL);
    m.kind = "application"; m.fmt = "";     CHECK(sdp_write(&d) == NULL);
    m.fmt = "x"; m.extra = "a=x:1";         CHECK(sdp_write(&d) == NULL);
    m.extra = NULL; m.sctp_port = 70000;    CHECK(sdp_write(&d) == NULL);
    m.sctp_port = 0; d.ice_ufrag = "ab\r\na=evil"; CHECK(sdp_write(&d) == NULL);
    d.ice_ufrag = NULL; d.n_media = SDP_MAX_MEDIA + 1; CHECK(sdp_write(&d) == NULL);
}

/* ------------------------------------------------------- malformed files */

/* Why each known file must be refused (a substring of the reason). */
static const struct { const char *file; int code; const char *reason; } MALFORMED[] = {
    {"missing_v_line", STRAPTO_EPARSE, "line 1: the first line must be v=0"},
    {"v_not_first_line", STRAPTO_EPARSE, "first line must be v=0"},
    {"v_version_1", STRAPTO_EPARSE, "first line must be v=0"},
    {"duplicate_v_line", STRAPTO_EPARSE, "duplicate v="},
    {"no_m_line", STRAPTO_EPARSE, "no m= section"},
    {"bad_m_port", STRAPTO_EPARSE, "line 8: m= line: bad port"},
    {"non_numeric_m_port", STRAPTO_EPARSE, "bad port"},
    {"m_line_without_fmt", STRAPTO_EPARSE, "m= line: expected"},
    {"unknown_proto_for_application", STRAPTO_EPARSE, "unsupported proto"},
    {"missing_ice_ufrag", STRAPTO_EPARSE, "line 8: application section: missing a=ice-ufrag"},
    {"missing_ice_pwd", STRAPTO_EPARSE, "missing a=ice-pwd"},
    {"ice_ufrag_with_space", STRAPTO_EPARSE, "ice-ufrag: bad value"},
    {"duplicate_ice_ufrag", STRAPTO_EPARSE, "duplicate a=ice-ufrag"},
    {"missing_fingerprint", STRAPTO_EPARSE, "no a=fingerprint"},
    {"fingerprint_bad_hex", STRAPTO_EPARSE, "line 15: fingerprint: bad hex"},
    {"fingerprint_wrong_length_for_hash", STRAPTO_EPARSE, "wrong length for sha-256"},
    {"fingerprint_unknown_hash_only", STRAPTO_EPARSE, "no a=fingerprint with a known hash"},
    {"fingerprint_without_hex", STRAPTO_EPARSE, "fingerprint: expected"},
    {"unknown_setup_value", STRAPTO_EPARSE, "setup: unknown value 'holdconn'"},
    {"setup_without_value", STRAPTO_EPARSE, "a=setup needs a value"},
    {"line_without_equals", STRAPTO_EPARSE, "line 4: expected '<letter>=<value>'"},
    {"line_with_uppercase_type", STRAPTO_EPARSE, "expected '<letter>=<value>'"},
    {"attribute_without_name", STRAPTO_EPARSE, "attribute without a name"},
    {"line_too_long", STRAPTO_ETOOBIG, "longer than 4096"},
    {"nul_byte_in_text", STRAPTO_EPARSE, "NUL byte"},
    {"control_character", STRAPTO_EPARSE, "control character 0x01"},
    {"invalid_utf8", STRAPTO_EPARSE, "invalid UTF-8"},
    {"cr_only_line_ends", STRAPTO_EPARSE, "control character 0x0d"},
    {"more_than_32_media_sections", STRAPTO_ETOOBIG, "more than 32 media sections"},
    {"more_than_64_candidates", STRAPTO_ETOOBIG, "more than 64 candidates"},
    {"sctp_port_out_of_range", STRAPTO_EPARSE, "sctp-port: not a port"},
    {"sctp_port_zero", STRAPTO_EPARSE, "sctp-port: not a port"},
    {"sctp_port_not_a_number", STRAPTO_EPARSE, "sctp-port: not a port"},
    {"max_message_size_not_a_number", STRAPTO_EPARSE, "max-message-size: not a number"},
    {"max_message_size_overflow", STRAPTO_EPARSE, "max-message-size: too large"},
    {"bundle_names_unknown_mid", STRAPTO_EPARSE, "line 5: BUNDLE names unknown mid '1'"},
    {"bundle_names_mid_twice", STRAPTO_EPARSE, "named twice"},
    {"duplicate_mid", STRAPTO_EPARSE, "mid '0' used by two sections"},
    {"two_mids_in_one_section", STRAPTO_EPARSE, "duplicate a=mid"},
    {"only_whitespace", STRAPTO_EPARSE, "line 1: expected"},
    {"empty_file", STRAPTO_EPARSE, "empty SDP"},
    {"only_line_ends", STRAPTO_EPARSE, "no v=0 line"},
    {"binary_garbage", STRAPTO_EPARSE, "line 1:"},
    {"legacy_fmt_port_out_of_range", STRAPTO_EPARSE, "bad SCTP port"},
    {"sctpmap_without_app", STRAPTO_EPARSE, "sctpmap: expected"},
    {"o_line_bad_version", STRAPTO_EPARSE, "bad session version"},
    {"o_line_too_few_fields", STRAPTO_EPARSE, "o= line: too few fields"},
    {"audio_section_without_ice", STRAPTO_EPARSE, "audio section: missing a=ice-ufrag"},
    {"two_directions", STRAPTO_EPARSE, "more than one direction"},
};
#define N_MALFORMED (sizeof MALFORMED / sizeof MALFORMED[0])

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n;
    char *buf = malloc(cap);
    REQUIRE(buf != NULL);
    n = fread(buf, 1, cap, f);
    fclose(f);
    *len = n;
    return buf;
}

static void test_malformed_dir(void)
{
    const char *dir = getenv("SDP_MALFORMED_DIR");
    if (!dir || !*dir) dir = "test/unit/sdp_malformed";
    DIR *d = opendir(dir);
    if (!d) fprintf(stderr, "cannot open %s (run from the project root or set SDP_MALFORMED_DIR)\n", dir);
    REQUIRE(d != NULL);
    int files = 0, seen[N_MALFORMED] = {0};
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[4096], err[256] = "";
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *text = read_file(path, &len);
        if (!text) continue;
        files++;
        sdp_session *s = (sdp_session *)1;
        int rc = sdp_parse(text, len, &s, err, sizeof err);
        free(text);
        fprintf(stderr, "  %-40s -> %d %s\n", e->d_name, rc, err);
        CHECK(rc == STRAPTO_EPARSE || rc == STRAPTO_ETOOBIG);
        CHECK(s == NULL);
        CHECK(err[0] != 0);
        for (size_t i = 0; i < N_MALFORMED; i++) {
            size_t fl = strlen(MALFORMED[i].file);
            if (strncmp(e->d_name, MALFORMED[i].file, fl) || strcmp(e->d_name + fl, ".sdp")) continue;
            seen[i] = 1;
            CHECK_EQ_INT(rc, MALFORMED[i].code);
            if (!strstr(err, MALFORMED[i].reason)) {
                fprintf(stderr, "%s: reason \"%s\" lacks \"%s\"\n", e->d_name, err, MALFORMED[i].reason);
                CHECK(!"reason of a malformed file");
            }
        }
    }
    closedir(d);
    CHECK(files >= 20);
    for (size_t i = 0; i < N_MALFORMED; i++)
        if (!seen[i]) { fprintf(stderr, "missing %s/%s.sdp\n", dir, MALFORMED[i].file); CHECK(!"file"); }
}

int main(void)
{
    test_chromium_dc(SEED_CHROMIUM_DC, "chromium offer");
    test_aiortc();
    test_legacy();
    test_chromium_av();
    test_go2();
    test_lf_line_ends();
    test_session_level();
    test_bundle_fill();
    test_fingerprints();
    test_rejected_and_unknown();
    test_bounds();
    test_api_misuse();
    test_write_roundtrip();
    test_write_legacy();
    test_write_invalid();
    test_malformed_dir();
    TEST_DONE();
}
