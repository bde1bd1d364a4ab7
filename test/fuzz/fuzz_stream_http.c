/* libFuzzer target: the stream server's static-file name check and its
 * page-cookie parser. Byte 0 picks which; the rest is the input. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include "server/stream.h"

static void check_name(const char *path)
{
    char *name = st_stream_safe_name(path);
    if (!name) return;
    /* what it accepts is a plain relative name */
    if (name[0] == '/' || name[0] == '.' || strstr(name, "/.") || strstr(name, "//")) abort(); /* "x.." is a name, "/.." is not */
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-' && *p != '/') abort();
    g_free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *text = g_strndup((const char *)data + 1, size - 1);
    if (data[0] & 1) {
        check_name(text);
    } else {
        /* the token is the cookie value's first word; a header naming a
         * different value must never pass */
        static const char *token = "s3cret-token";
        int ok = st_stream_cookie_token_ok(text, token);
        if (ok && !strstr(text, "s3cret")) {
            char *dec = g_uri_unescape_string(text, NULL);
            int has = dec && strstr(dec, token) != NULL;
            g_free(dec);
            if (!has) abort();
        }
    }
    g_free(text);
    return 0;
}
