/* echo-client — a closed-loop load client for echo-server (W8/W9 shapes), written with tothread:
 * C connection tasks, each sending a B-byte message and checking every byte of the reply
 * before it sends the next one. For CI's short load run; the benchmark's own client is the
 * anchors' netload.
 *
 * usage: echo-client --port P [--mode echo|offload] [--conns C] [--size B] [--work K]
 *                    [--duration S]
 * Prints "echo-client: N requests in S s (R req/s), 0 mismatches"; exits 1 on a mismatch, a
 * connection error or no request at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tothread.h>

typedef struct load {
    const char *port;
    int offload, work, conns;
    size_t size;
    int64_t deadline;
    long requests, mismatches, errors;
} load;

static uint64_t fnv1a_rep(const unsigned char *p, size_t n, int k)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int r = 0; r < k; r++)
        for (size_t i = 0; i < n; i++)
            h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static intptr_t connection(void *arg)
{
    load *l = arg;
    intptr_t fd = tt_connect_tcp("127.0.0.1", l->port);
    if (fd < 0) {
        fprintf(stderr, "echo-client: connect: %s\n", tt_strerror(fd));
        l->errors++;
        return fd;
    }
    unsigned char *msg = malloc(l->size), *want = malloc(l->size), *got = malloc(l->size);
    intptr_t r = msg && want && got ? 0 : -ENOMEM;
    for (unsigned seq = (unsigned)fd * 7919u; r == 0 && tt_now() < l->deadline; seq++) {
        for (size_t i = 0; i < l->size; i++)
            msg[i] = (unsigned char)(seq * 31u + i);
        memcpy(want, msg, l->size);
        if (l->offload) {
            uint64_t h = fnv1a_rep(msg, l->size, l->work);
            for (int i = 0; i < 8; i++)
                want[i] = (unsigned char)(h >> (8 * i));
        }
        if ((r = tt_write_all((int)fd, msg, l->size, NULL)) < 0 ||
            (r = tt_read_exactly((int)fd, got, l->size, NULL)) < 0)
            break;
        r = 0;
        if (memcmp(got, want, l->size) != 0) {
            l->mismatches++;
            break;
        }
        l->requests++;
    }
    if (r < 0) {
        fprintf(stderr, "echo-client: %s\n", tt_strerror(r));
        l->errors++;
    }
    free(msg);
    free(want);
    free(got);
    close((int)fd);
    return r;
}

static intptr_t main_task(void *arg)
{
    load *l = arg;
    tt_group *g = tt_group_new();
    if (!g)
        return -errno;
    for (int i = 0; i < l->conns; i++) {
        tt_future *c = tt_group_spawn(g, connection, l);
        if (!c)
            l->errors++;
        tt_unref(c); /* the group keeps what it needs */
    }
    intptr_t r = tt_group_join(g);
    tt_group_free(g);
    return r;
}

int main(int argc, char **argv)
{
    load l = {.work = 1, .conns = 10, .size = 128};
    double duration = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            l.port = argv[i + 1];
        else if (!strcmp(argv[i], "--mode"))
            l.offload = !strcmp(argv[i + 1], "offload");
        else if (!strcmp(argv[i], "--conns"))
            l.conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size"))
            l.size = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--work"))
            l.work = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration"))
            duration = atof(argv[i + 1]);
        else
            l.port = NULL;
    }
    if (argc % 2 == 0 || !l.port || l.conns < 1 || l.size < 8 || l.work < 1 || duration <= 0) {
        fprintf(stderr, "usage: echo-client --port P [--mode echo|offload] [--conns C] "
                        "[--size B] [--work K] [--duration S]\n");
        return 2;
    }
    int64_t t0 = tt_now();
    l.deadline = t0 + (int64_t)(duration * 1e9);
    intptr_t result = 0;
    int rc = tt_run(main_task, &l, &result);
    double secs = (double)(tt_now() - t0) / 1e9;
    printf("echo-client: %ld requests in %.2f s (%.0f req/s), %ld mismatches, %ld errors\n",
           l.requests, secs, (double)l.requests / secs, l.mismatches, l.errors);
    if (rc < 0) {
        fprintf(stderr, "echo-client: %s\n", tt_strerror(rc));
        return 1;
    }
    return result == 0 && l.mismatches == 0 && l.errors == 0 && l.requests > 0 ? 0 : 1;
}
