/* echo-server — the W8/W9 network server of the benchmark anchors, written with tothread's
 * server toolkit: a listener, the serve helper (a handler task per connection), streams, the
 * checksum offloaded to a 4-thread pool, and a graceful stop on SIGTERM/SIGINT.
 *
 * usage: echo-server --port P --mode echo|offload [--work K] [--size B] [--duration S]
 *   echo:    writes back whatever it reads.
 *   offload: reads one B-byte message (default 128) at a time; a pool thread computes FNV-1a 64
 *            of it repeated K times (default 1); the reply is the message with bytes 0..7
 *            replaced by the checksum, little-endian.
 * Listens on 127.0.0.1:P (P 0: any free port). Prints "echo-server: listening on port N" on
 * stdout, runs until SIGTERM or SIGINT (or for S seconds), then stops accepting, gives
 * connections 2 s to finish and cancels the rest.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <tothread.h>

#define CAP 65536
#define POOL_THREADS 4

typedef struct config {
    int offload;
    int work;
    size_t size;
    tt_pool *pool;
} config;

/* The W9 checksum (the anchors' fnv.h): FNV-1a 64 over the message repeated k times. */
typedef struct checksum_job {
    const unsigned char *msg;
    size_t n;
    int k;
    uint64_t h;
} checksum_job;

static intptr_t checksum(void *arg) /* on a pool thread */
{
    checksum_job *j = arg;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int r = 0; r < j->k; r++)
        for (size_t i = 0; i < j->n; i++)
            h = (h ^ j->msg[i]) * 0x100000001b3ull;
    j->h = h;
    return 0;
}

static intptr_t echo_loop(tt_stream *s, unsigned char *buf)
{
    for (;;) {
        intptr_t n = tt_stream_read(s, buf, CAP);
        if (n <= 0)
            return n;
        n = tt_stream_write_all(s, buf, (size_t)n, NULL);
        if (n < 0)
            return n;
    }
}

static intptr_t offload_loop(tt_stream *s, unsigned char *buf, const config *cfg)
{
    for (;;) {
        intptr_t n = tt_stream_read_exactly(s, buf, cfg->size);
        if (n < 0)
            return n == -ENODATA ? 0 : n;
        checksum_job j = {buf, cfg->size, cfg->work, 0};
        /* Default mode: a cancelled handler still waits for a running checksum, so j and buf
         * stay valid while the pool thread reads them. */
        n = tt_await(tt_to_thread_on(cfg->pool, NULL, checksum, &j));
        if (n < 0)
            return n;
        for (int i = 0; i < 8; i++)
            buf[i] = (unsigned char)(j.h >> (8 * i));
        n = tt_stream_write_all(s, buf, cfg->size, NULL);
        if (n < 0)
            return n;
    }
}

/* One connection (a task of the server); the server closes fd when this returns. */
static intptr_t handle(int fd, void *arg)
{
    const config *cfg = arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned char *buf = malloc(CAP); /* not on the task's 64 KiB stack */
    tt_stream *s = tt_stream_new(fd, 0);
    intptr_t r = -ENOMEM;
    if (buf && s)
        r = cfg->offload ? offload_loop(s, buf, cfg) : echo_loop(s, buf);
    tt_stream_free(s);
    free(buf);
    return r;
}

typedef struct options {
    const char *port;
    config cfg;
    double duration; /* seconds; 0: until a signal */
} options;

static intptr_t main_task(void *arg)
{
    options *o = arg;
    intptr_t lfd = tt_listen_tcp("127.0.0.1", o->port, 1024, 0);
    if (lfd < 0) {
        fprintf(stderr, "echo-server: listen on port %s: %s\n", o->port, tt_strerror(lfd));
        return lfd;
    }
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    getsockname((int)lfd, (struct sockaddr *)&a, &alen);
    printf("echo-server: listening on port %d\n", ntohs(a.sin_port));
    fflush(stdout);

    tt_server *srv = tt_server_start((int)lfd, handle, &o->cfg);
    if (!srv) {
        perror("echo-server: tt_server_start");
        tt_close((int)lfd);
        return -1;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    tt_timeout limit;
    tt_timeout_enter(&limit, o->duration > 0 ? (int64_t)(o->duration * 1e9) : TT_FOREVER);
    intptr_t why = tt_timeout_exit(&limit, tt_signal_wait(&stop));
    int rc = tt_server_close(srv, TT_SEC(2));
    close((int)lfd);
    fprintf(stderr, "echo-server: stopped (%s)\n",
            why == -ETIMEDOUT ? "duration reached" : why > 0 ? strsignal((int)why) : tt_strerror(why));
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: echo-server --port P --mode echo|offload [--work K] [--size B] "
                    "[--duration S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    options o = {.cfg = {.work = 1, .size = 128}};
    const char *mode = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            o.port = argv[i + 1];
        else if (!strcmp(argv[i], "--mode"))
            mode = argv[i + 1];
        else if (!strcmp(argv[i], "--work"))
            o.cfg.work = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size"))
            o.cfg.size = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration"))
            o.duration = atof(argv[i + 1]);
        else
            return usage();
    }
    if (argc % 2 == 0 || !o.port || !mode || (strcmp(mode, "echo") && strcmp(mode, "offload")) ||
        o.cfg.work < 1 || o.cfg.size < 8 || o.cfg.size > CAP)
        return usage();
    o.cfg.offload = !strcmp(mode, "offload");

    /* Before any thread exists, so that every thread inherits the mask: the stop signals wait
     * for tt_signal_wait instead of killing the process. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    tt_signal_block(&stop);

    tt_pool_opts po = {.min_threads = POOL_THREADS, .max_threads = POOL_THREADS, .name = "fnv"};
    o.cfg.pool = tt_pool_new(&po);
    if (!o.cfg.pool) {
        perror("echo-server: tt_pool_new");
        return 1;
    }
    intptr_t result = 0;
    int rc = tt_run(main_task, &o, &result);
    tt_pool_free(o.cfg.pool);
    if (rc < 0) {
        fprintf(stderr, "echo-server: %s\n", tt_strerror(rc));
        return 1;
    }
    return result < 0 ? 1 : 0;
}
