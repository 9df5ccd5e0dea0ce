/* kv-server — a line-protocol key-value server: streams (readline with a size cap), the serve
 * helper, signals for a graceful stop, and a blocking library call (getaddrinfo) on the pool.
 *
 * usage: kv-server [--port P] [--duration S]      (port 0: any free one; default 7070)
 * Listens on 127.0.0.1:P and prints "kv-server: listening on port N". One command a line:
 *   SET key value   -> OK                 GET key   -> VALUE value | NOTFOUND
 *   DEL key         -> DELETED | NOTFOUND KEYS      -> COUNT n
 *   RESOLVE host    -> ADDR a1 a2 ... | ERR reason  (getaddrinfo, run on the worker pool)
 *   QUIT            -> BYE, then the server closes the connection
 * A line over 1 KiB gets "ERR line too long" and the connection is closed. SIGTERM or SIGINT
 * (or --duration) stops accepting, gives clients 2 s, then cancels them.
 *
 * Try it: kv-server & printf 'SET a 1\nGET a\nRESOLVE localhost\nQUIT\n' | nc 127.0.0.1 7070
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tothread.h>

#define LINE_MAX_BYTES 1024

/* The store: a small chained hash table, touched only from the loop's thread (no lock). */
typedef struct entry {
    struct entry *next;
    char *key, *value;
} entry;
static entry *table[256];
static long nkeys;

static entry **slot(const char *key)
{
    unsigned h = 5381;
    for (const char *p = key; *p; p++)
        h = h * 33 + (unsigned char)*p;
    entry **e = &table[h % 256];
    while (*e && strcmp((*e)->key, key) != 0)
        e = &(*e)->next;
    return e;
}

static const char *store_set(const char *key, const char *value)
{
    entry **e = slot(key);
    char *v = strdup(value);
    if (!v)
        return "ERR out of memory";
    if (*e) {
        free((*e)->value);
        (*e)->value = v;
        return "OK";
    }
    entry *n = malloc(sizeof *n);
    if (!n || !(n->key = strdup(key))) {
        free(n);
        free(v);
        return "ERR out of memory";
    }
    n->value = v;
    n->next = NULL;
    *e = n;
    nkeys++;
    return "OK";
}

static int store_del(const char *key)
{
    entry **e = slot(key), *d = *e;
    if (!d)
        return 0;
    *e = d->next;
    free(d->key);
    free(d->value);
    free(d);
    nkeys--;
    return 1;
}

static void store_free(void)
{
    for (int i = 0; i < 256; i++)
        while (table[i])
            store_del(table[i]->key);
}

/* RESOLVE: the addresses of host, through getaddrinfo on the pool. */
static void resolve(const char *host, char *out, size_t n)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int rc = tt_getaddrinfo(host, NULL, &hints, &res);
    if (rc < 0) {
        snprintf(out, n, "ERR %s", tt_strerror(rc));
        return;
    }
    size_t len = (size_t)snprintf(out, n, "ADDR");
    for (struct addrinfo *ai = res; ai && len + 48 < n; ai = ai->ai_next) {
        char a[INET6_ADDRSTRLEN];
        const void *p = ai->ai_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        if (inet_ntop(ai->ai_family, p, a, sizeof a))
            len += (size_t)snprintf(out + len, n - len, " %s", a);
    }
    freeaddrinfo(res);
}

/* Runs one command line (no newline); writes the reply into out. 1 to close afterwards. */
static int command(char *line, char *out, size_t n)
{
    char *save, *cmd = strtok_r(line, " \r", &save), *key = strtok_r(NULL, " \r", &save);
    char *rest = strtok_r(NULL, "\r", &save);
    if (!cmd) {
        snprintf(out, n, "ERR empty line");
    } else if (!strcmp(cmd, "SET") && key && rest) {
        snprintf(out, n, "%s", store_set(key, rest));
    } else if (!strcmp(cmd, "GET") && key) {
        entry *e = *slot(key);
        snprintf(out, n, e ? "VALUE %s" : "NOTFOUND", e ? e->value : "");
    } else if (!strcmp(cmd, "DEL") && key) {
        snprintf(out, n, store_del(key) ? "DELETED" : "NOTFOUND");
    } else if (!strcmp(cmd, "KEYS")) {
        snprintf(out, n, "COUNT %ld", nkeys);
    } else if (!strcmp(cmd, "RESOLVE") && key) {
        resolve(key, out, n);
    } else if (!strcmp(cmd, "QUIT")) {
        snprintf(out, n, "BYE");
        return 1;
    } else {
        snprintf(out, n, "ERR unknown command or missing argument");
    }
    return 0;
}

static intptr_t client(int fd, void *arg)
{
    (void)arg;
    tt_stream *s = tt_stream_new(fd, LINE_MAX_BYTES);
    if (!s)
        return -ENOMEM;
    char line[LINE_MAX_BYTES + 1], out[LINE_MAX_BYTES + 2];
    const char *p;
    intptr_t n = 0;
    int quit = 0;
    while (!quit && (n = tt_stream_readline(s, &p)) > 0) {
        memcpy(line, p, (size_t)n - 1); /* without the newline */
        line[n - 1] = '\0';
        quit = command(line, out, sizeof out - 1);
        size_t len = strlen(out);
        out[len++] = '\n';
        if (tt_stream_write_all(s, out, len, NULL) < 0)
            break;
    }
    if (n == -EMSGSIZE)
        tt_stream_write_all(s, "ERR line too long\n", 18, NULL);
    tt_stream_free(s);
    return 0;
}

static intptr_t main_task(void *arg)
{
    const char **opt = arg; /* port, duration */
    intptr_t lfd = tt_listen_tcp("127.0.0.1", opt[0], 0, 0);
    if (lfd < 0) {
        fprintf(stderr, "kv-server: listen on port %s: %s\n", opt[0], tt_strerror(lfd));
        return lfd;
    }
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    getsockname((int)lfd, (struct sockaddr *)&a, &alen);
    printf("kv-server: listening on port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    tt_server *srv = tt_server_start((int)lfd, client, NULL);
    if (!srv) {
        close((int)lfd);
        return -errno;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    double secs = opt[1] ? atof(opt[1]) : 0;
    tt_timeout limit;
    tt_timeout_enter(&limit, secs > 0 ? (int64_t)(secs * 1e9) : TT_FOREVER);
    intptr_t why = tt_timeout_exit(&limit, tt_signal_wait(&stop));
    fprintf(stderr, "kv-server: stopping (%s), %zu connection(s) open\n",
            why > 0 ? strsignal((int)why) : "duration reached", tt_server_connections(srv));
    int rc = tt_server_close(srv, TT_SEC(2));
    close((int)lfd);
    return rc;
}

int main(int argc, char **argv)
{
    const char *opt[2] = {"7070", NULL};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 < argc && !strcmp(argv[i], "--port")) {
            opt[0] = argv[i + 1];
        } else if (i + 1 < argc && !strcmp(argv[i], "--duration")) {
            opt[1] = argv[i + 1];
        } else {
            fprintf(stderr, "usage: kv-server [--port P] [--duration S]\n");
            return 2;
        }
    }
    sigset_t stop; /* blocked before any thread starts: see tt_signal_wait */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    tt_signal_block(&stop);
    intptr_t result = 0;
    int rc = tt_run(main_task, opt, &result);
    store_free();
    if (rc < 0)
        fprintf(stderr, "kv-server: %s\n", tt_strerror(rc));
    return rc < 0 || result < 0 ? 1 : 0;
}
