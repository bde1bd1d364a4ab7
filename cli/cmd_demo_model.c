/* strapto-cli demo-model: the built-in demo model that `strapto-cli serve`
 * runs when it is given no model command (hidden from the command list).
 *
 * It streams a built-in text token by token at a steady rate, one JSON line
 * per token on stdout: {"type":"token","text":"word "} (a paragraph ends
 * with a token "\n\n"; the text starts over at its end). Each line it reads
 * on stdin is answered at once with {"type":"reply","text":"You said: ..."}
 * quoting the input's "text" member (or the JSON string, or the raw line).
 * It exits 0 at the end of stdin (the server closed it) or after --count
 * tokens.
 *
 *   strapto-cli demo-model [--rate TOKENS_PER_S] [--count N]
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"

#define LINE_MAX_BYTES (64 * 1024)
#define QUOTE_MAX 2000 /* characters of the input quoted back */

static const char *const demo_text[] = {
    "This is the StrapTo demo model. It writes one word at a time, the way a language model "
    "streams its tokens, and every word you see travelled from a child process through the "
    "event bus and a WebRTC data channel to this page.",
    "Type something in the box below and press Send. Your words go back over the same data "
    "channel as a consumer_input event, the server writes them to the model's standard input "
    "as one JSON line, and the model answers with a reply that quotes you.",
    "Any program can take this model's place: give strapto-cli serve a command after two dashes "
    "and each line it prints becomes a model_output event for every connected client, whether it "
    "listens over WebRTC, WebSocket or plain HTTP.",
    "Lines that are JSON objects with a type member are passed through as typed events; anything "
    "else is wrapped as text. Input arrives on standard input, errors go to the log, and if the "
    "model crashes the server reports it and can start it again.",
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int emit(const char *type, const char *text)
{
    json_t *j = json_pack("{s:s,s:s}", "type", type, "text", text);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return 0;
    int ok = printf("%s\n", s) >= 0 && fflush(stdout) == 0;
    free(s);
    return ok;
}

/* The text an input line carries. */
static char *input_text(const char *line, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(line, len, 0, &e);
    char *out = NULL;
    if (j) {
        json_t *t = json_is_object(j) ? json_object_get(j, "text") : j;
        if (json_is_string(t)) out = strdup(json_string_value(t));
        json_decref(j);
    }
    if (!out) {
        out = malloc(len + 1);
        if (out) {
            memcpy(out, line, len);
            out[len] = 0;
        }
    }
    return out;
}

static int reply(const char *line, size_t len)
{
    if (len && line[len - 1] == '\r') len--;
    char *text = input_text(line, len);
    if (!text) return 1;
    /* quote at most QUOTE_MAX characters, cut on a UTF-8 boundary */
    size_t n = strlen(text), k = 0, chars = 0;
    while (k < n && chars < QUOTE_MAX) {
        k++;
        while (k < n && ((unsigned char)text[k] & 0xC0) == 0x80) k++;
        chars++;
    }
    int cut = k < n;
    text[k] = 0;
    size_t blen = k + 32;
    char *msg = malloc(blen);
    int ok = 1;
    if (msg) {
        snprintf(msg, blen, "You said: %s%s", text, cut ? "…" : "");
        json_t *probe = json_string(msg); /* invalid UTF-8 from a raw line: say so instead */
        if (!probe) snprintf(msg, blen, "You said something that is not UTF-8 text");
        json_decref(probe);
        ok = emit("reply", msg);
        free(msg);
    }
    free(text);
    return ok;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: strapto-cli demo-model [--rate TOKENS_PER_S] [--count N]\n"
               "The demo model of `strapto-cli serve`: streams tokens as JSON lines on stdout and\n"
               "answers each stdin line with a reply. Exits at the end of stdin.\n");
}

int cmd_demo_model(int argc, char **argv)
{
    double rate = 10;
    long long count = 0;
    static const struct option opts[] = {
        {"rate", required_argument, 0, 'r'}, {"count", required_argument, 0, 'n'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'r':
            rate = strtod(optarg, &end);
            if (!end || *end || !(rate >= 0.1 && rate <= 10000)) {
                fprintf(stderr, "demo-model: --rate wants 0.1..10000\n");
                return 2;
            }
            break;
        case 'n':
            count = strtoll(optarg, &end, 10);
            if (!end || *end || count < 0) {
                fprintf(stderr, "demo-model: --count wants N >= 0\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    fprintf(stderr, "demo model: %.1f tokens/s\n", rate);
    char *buf = malloc(LINE_MAX_BYTES);
    if (!buf) return 1;
    size_t have = 0;
    int skipping = 0;
    size_t para = 0, pos = 0;
    long long sent = 0;
    double period = 1.0 / rate, next = now_s();
    int rc = 0;
    for (;;) {
        double wait = next - now_s();
        if (wait <= 0) {
            /* the next token */
            const char *p = demo_text[para];
            while (p[pos] == ' ') pos++;
            if (!p[pos]) {
                if (!emit("token", "\n\n")) break;
                para = (para + 1) % (sizeof demo_text / sizeof demo_text[0]);
                pos = 0;
            } else {
                size_t end = pos;
                while (p[end] && p[end] != ' ') end++;
                char word[128];
                size_t wl = end - pos < sizeof word - 2 ? end - pos : sizeof word - 2;
                memcpy(word, p + pos, wl);
                word[wl] = p[end] ? ' ' : 0;
                word[wl + 1] = 0;
                pos = end;
                if (!emit("token", word)) break;
            }
            next += period;
            if (next < now_s() - 1) next = now_s(); /* do not burst after a stall */
            if (count && ++sent >= count) break;
            continue;
        }
        struct pollfd pfd = {0, POLLIN, 0};
        int ms = (int)(wait * 1000) + 1;
        int n = poll(&pfd, 1, ms);
        if (n < 0 && errno != EINTR) {
            rc = 1;
            break;
        }
        if (n <= 0) continue;
        ssize_t r = read(0, buf + have, LINE_MAX_BYTES - have);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) {
            if (have && !skipping) reply(buf, have);
            break; /* the server closed our stdin: done */
        }
        have += (size_t)r;
        size_t start = 0;
        for (size_t i = 0; i < have; i++) {
            if (buf[i] != '\n') continue;
            if (!skipping && !reply(buf + start, i - start)) {
                rc = 1;
                goto out;
            }
            skipping = 0;
            start = i + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (have == LINE_MAX_BYTES) { /* a line over the bound: answer its start, skip the rest */
            if (!skipping) reply(buf, have);
            skipping = 1;
            have = 0;
        }
    }
out:
    free(buf);
    return rc;
}
