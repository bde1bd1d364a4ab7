/* The model stream server's page and plain HTTP routes: GET / and the
 * static files of the www folder, GET /health, the token check with its
 * cookie rule, JSON errors, and counting every request for /metrics.
 *
 * Token: every route needs it (Authorization: Bearer T, or ?token=T). A
 * browser cannot put a header on the <script>/<link> requests of a page,
 * so a successful GET / also sets an HttpOnly, SameSite=Strict cookie
 * holding the token, and the static files (only they) accept that cookie.
 * The page's own API calls send the token as a bearer header.
 *
 * Static files: only names made of [A-Za-z0-9._-] segments that do not
 * start with '.', resolved with realpath() and required to stay inside the
 * www folder (so no traversal, no symlink escape), regular files of at most
 * MAX_FILE bytes. They are read on a worker thread (GTask), never on the
 * loop; the request is paused meanwhile. */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "server/stream.h"

#define MOD "stream"
#define MAX_FILE (8 * 1024 * 1024)
#define MAX_PATH_LEN 512
#define COOKIE "strapto_token"

/* ---- replies and auth ---- */

void st_stream_reply_error(strapto_stream_server *srv, SoupServerMessage *msg, int status, const char *code,
                           const char *message)
{
    st_httpd_reply_error(msg, status, code, message);
}

int st_stream_require_get(strapto_stream_server *srv, SoupServerMessage *msg)
{
    const char *method = soup_server_message_get_method(msg);
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) return 1;
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, HEAD");
    st_stream_reply_error(srv, msg, 405, "method_not_allowed", "method not allowed on this route");
    return 0;
}

static int secret_equal(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned char d = alen != blen;
    for (size_t i = 0; i < alen; i++) d |= (unsigned char)(a[i] ^ b[i % (blen ? blen : 1)]);
    return d == 0;
}

static int cookie_ok(strapto_stream_server *srv, SoupServerMessage *msg)
{
    const char *h = soup_message_headers_get_list(soup_server_message_get_request_headers(msg), "Cookie");
    return st_stream_cookie_token_ok(h, srv->token);
}

int st_stream_cookie_token_ok(const char *h, const char *token)
{
    if (!h || !token || strlen(h) > 8192) return 0;
    int ok = 0;
    gchar **parts = g_strsplit(h, ";", 64);
    for (gchar **p = parts; *p && !ok; p++) {
        const char *s = *p;
        while (*s == ' ' || *s == '\t') s++;
        if (strncmp(s, COOKIE "=", sizeof COOKIE) != 0) continue;
        char *v = g_uri_unescape_string(s + sizeof COOKIE, NULL);
        if (v) ok = secret_equal(v, strlen(v), token);
        g_free(v);
    }
    g_strfreev(parts);
    return ok;
}

int st_stream_authorize(strapto_stream_server *srv, SoupServerMessage *msg, int allow_cookie)
{
    if (!srv->token) return 1;
    if (allow_cookie && cookie_ok(srv, msg)) return 1;
    if (st_httpd_authorize(srv->httpd, msg)) return 1;
    srv->rej_auth++;
    return 0;
}

/* ---- finding the www folder ---- */

static int is_dir_with_index(const char *d)
{
    if (!d || !*d) return 0;
    char *idx = g_build_filename(d, "index.html", NULL);
    int ok = g_file_test(idx, G_FILE_TEST_IS_REGULAR);
    g_free(idx);
    return ok;
}

char *st_stream_find_www(const char *cfg_dir)
{
    if (cfg_dir && *cfg_dir) {
        if (!g_file_test(cfg_dir, G_FILE_TEST_IS_DIR)) ST_WARN(MOD, "www folder %s does not exist", cfg_dir);
        return g_strdup(cfg_dir);
    }
    const char *env = getenv("STRAPTO_WWW_DIR");
    if (env && *env) return g_strdup(env);
    /* next to the library (or the executable it is linked into) */
    Dl_info info;
    char *found = NULL;
    if (dladdr((void *)st_stream_find_www, &info) && info.dli_fname) {
        char *real = realpath(info.dli_fname, NULL);
        if (real) {
            char *dir = g_path_get_dirname(real);
            const char *rel[] = {"../share/strapto/www", "../www", "../../www"};
            for (size_t i = 0; i < G_N_ELEMENTS(rel) && !found; i++) {
                char *c = g_build_filename(dir, rel[i], NULL);
                char *rc = realpath(c, NULL);
                if (rc && is_dir_with_index(rc)) found = g_strdup(rc);
                free(rc);
                g_free(c);
            }
            g_free(dir);
            free(real);
        }
    }
#ifdef STRAPTO_DATADIR
    if (!found && is_dir_with_index(STRAPTO_DATADIR "/strapto/www")) found = g_strdup(STRAPTO_DATADIR "/strapto/www");
#endif
    const char *sys[] = {"/usr/local/share/strapto/www", "/usr/share/strapto/www"};
    for (size_t i = 0; i < G_N_ELEMENTS(sys) && !found; i++)
        if (is_dir_with_index(sys[i])) found = g_strdup(sys[i]);
    return found;
}

/* ---- static files ---- */

static const char *content_type(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"}, {".map", "application/json"},
        {".wasm", "application/wasm"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
        if (g_str_has_suffix(name, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}

/* A safe relative name, or NULL. */
char *st_stream_safe_name(const char *path)
{
    if (!path || path[0] != '/' || strlen(path) > MAX_PATH_LEN) return NULL;
    const char *rel = path + 1;
    if (!*rel) return g_strdup("index.html");
    char *dec = g_uri_unescape_string(rel, "/"); /* an encoded '/' is refused */
    if (!dec) return NULL;
    int ok = dec[0] != 0;
    int seg_start = 1;
    for (const char *p = dec; *p && ok; p++) {
        char c = *p;
        if (c == '/') {
            ok = !seg_start && p[1] != 0; /* no empty segment, no trailing slash */
            seg_start = 1;
            continue;
        }
        if (seg_start && c == '.') ok = 0; /* ".", "..", hidden files */
        else if (!g_ascii_isalnum(c) && c != '.' && c != '_' && c != '-') ok = 0;
        seg_start = 0;
    }
    if (!ok) {
        g_free(dec);
        return NULL;
    }
    return dec;
}

typedef struct {
    strapto_stream_server *srv; /* NULL once the server is gone */
    char *root, *name;
    SoupServerMessage *msg;
    int status;
    GBytes *data;
} file_req;

static void file_req_free(gpointer p)
{
    file_req *r = p;
    g_free(r->root);
    g_free(r->name);
    if (r->data) g_bytes_unref(r->data);
    g_object_unref(r->msg);
    g_free(r);
}

/* Worker thread: resolve and read. */
static void file_read(GTask *task, gpointer src, gpointer data, GCancellable *c)
{
    file_req *r = data;
    r->status = 404;
    char *root = realpath(r->root, NULL);
    char *full = root ? g_build_filename(root, r->name, NULL) : NULL;
    char *real = full ? realpath(full, NULL) : NULL;
    size_t rl = root ? strlen(root) : 0;
    struct stat st;
    if (real && strncmp(real, root, rl) == 0 && real[rl] == '/' && stat(real, &st) == 0 && S_ISREG(st.st_mode)) {
        gchar *contents = NULL;
        gsize len = 0;
        if (st.st_size > MAX_FILE) r->status = 403;
        else if (g_file_get_contents(real, &contents, &len, NULL) && len <= MAX_FILE) {
            r->data = g_bytes_new_take(contents, len);
            contents = NULL;
            r->status = 200;
        } else r->status = 403;
        g_free(contents);
    }
    free(root);
    g_free(full);
    free(real);
    g_task_return_boolean(task, TRUE);
}

/* Loop thread: reply. */
static void file_done(GObject *src, GAsyncResult *res, gpointer user)
{
    file_req *r = g_task_get_task_data(G_TASK(res));
    SoupServerMessage *msg = r->msg;
    if (!r->srv) return; /* the server was freed meanwhile */
    r->srv->file_reqs = g_list_remove(r->srv->file_reqs, r);
    if (r->status == 200) {
        SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
        soup_message_headers_replace(h, "Cache-Control", "no-cache");
        soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
        if (g_str_has_suffix(r->name, ".html")) {
            soup_message_headers_replace(h, "Content-Security-Policy",
                                         "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                                         "object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
            soup_message_headers_replace(h, "Referrer-Policy", "no-referrer");
        }
        gsize n;
        const char *d = g_bytes_get_data(r->data, &n);
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(msg, content_type(r->name), SOUP_MEMORY_COPY, d, n);
    } else if (r->status == 403) {
        st_httpd_reply_error(msg, 403, "forbidden", "this file cannot be served");
    } else {
        st_httpd_reply_error(msg, 404, "not_found", "no such file");
    }
    soup_server_message_unpause(msg);
}

static void set_cookie(strapto_stream_server *srv, SoupServerMessage *msg)
{
    char *v = g_uri_escape_string(srv->token, NULL, FALSE);
    char *c = g_strdup_printf(COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", v);
    soup_message_headers_append(soup_server_message_get_response_headers(msg), "Set-Cookie", c);
    g_free(c);
    g_free(v);
}

static void handle_static(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                          gpointer user)
{
    strapto_stream_server *srv = user;
    if (!st_stream_require_get(srv, msg)) return;
    char *name = st_stream_safe_name(path);
    int is_page = name && !strcmp(name, "index.html");
    /* the page itself needs the token (header or query); its assets accept the cookie too */
    if (!st_stream_authorize(srv, msg, !is_page)) {
        g_free(name);
        return;
    }
    if (!name || !srv->www_dir) {
        st_stream_reply_error(srv, msg, 404, "not_found", srv->www_dir ? "no such file" : "no web page installed");
        g_free(name);
        return;
    }
    if (is_page && srv->token) set_cookie(srv, msg);
    file_req *r = g_new0(file_req, 1);
    r->srv = srv;
    srv->file_reqs = g_list_prepend(srv->file_reqs, r);
    r->root = g_strdup(srv->www_dir);
    r->name = name;
    r->msg = g_object_ref(msg);
    soup_server_message_pause(msg);
    GTask *t = g_task_new(NULL, NULL, file_done, NULL);
    g_task_set_task_data(t, r, file_req_free);
    g_task_run_in_thread(t, file_read);
    g_object_unref(t);
}

static void handle_health(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                          gpointer user)
{
    strapto_stream_server *srv = user;
    if (strcmp(path, "/health") != 0) {
        st_stream_reply_error(srv, msg, 404, "not_found", "no such route");
        return;
    }
    if (!st_stream_require_get(srv, msg) || !st_stream_authorize(srv, msg, 0)) return;
    st_httpd_reply_json(msg, 200, "{\"status\":\"ok\"}");
}

/* ---- request counting ---- */

static const char *route_of(const char *path)
{
    static const char *routes[] = {"/offer", "/whep", "/status", "/health", "/metrics", "/events"};
    if (!strcmp(path, "/")) return "/";
    if (!strncmp(path, "/whep/", 6)) return "/whep/:id";
    for (size_t i = 0; i < G_N_ELEMENTS(routes); i++)
        if (!strcmp(path, routes[i])) return routes[i];
    return "static";
}

static void request_finished(SoupServer *server, SoupServerMessage *msg, gpointer user)
{
    strapto_stream_server *srv = user;
    GUri *uri = soup_server_message_get_uri(msg);
    const char *path = uri ? g_uri_get_path(uri) : "/";
    guint status = soup_server_message_get_status(msg);
    char key[64];
    snprintf(key, sizeof key, "%s\n%u", route_of(path ? path : "/"), status);
    uint64_t *n = g_hash_table_lookup(srv->http, key);
    if (!n) {
        if (g_hash_table_size(srv->http) >= ST_STREAM_MAX_HTTP_KEYS) {
            srv->http_other++;
            return;
        }
        n = g_new0(uint64_t, 1);
        g_hash_table_insert(srv->http, g_strdup(key), n);
    }
    (*n)++;
}

void st_stream_http_routes(strapto_stream_server *srv)
{
    SoupServer *s = st_httpd_soup(srv->httpd);
    srv->req_signal = g_signal_connect(s, "request-finished", G_CALLBACK(request_finished), srv);
    soup_server_add_handler(s, "/health", handle_health, srv, NULL);
    soup_server_add_handler(s, NULL, handle_static, srv, NULL); /* every other path */
}

void st_stream_http_stop(strapto_stream_server *srv)
{
    for (GList *l = srv->file_reqs; l; l = l->next) ((file_req *)l->data)->srv = NULL;
    g_list_free(srv->file_reqs);
    srv->file_reqs = NULL;
    if (srv->req_signal && srv->httpd) g_signal_handler_disconnect(st_httpd_soup(srv->httpd), srv->req_signal);
    srv->req_signal = 0;
}
