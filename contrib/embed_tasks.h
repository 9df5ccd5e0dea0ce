/* The work both embedding tests give a tothread loop driven by a host loop: children that
 * sleep, offload a blocking call and move bytes through a pipe with tt_write/tt_read, gathered
 * by a main task. Each child returns 2 * i + 4; the main task returns their sum or an error. */
#ifndef TT_EMBED_TASKS_H
#define TT_EMBED_TASKS_H

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <tothread.h>

#define EMBED_CHILDREN 4

static intptr_t embed_blocking_double(void *arg)
{
    usleep(20 * 1000); /* a blocking call that would stall the host loop */
    return 2 * (intptr_t)arg;
}

static intptr_t embed_child(void *arg)
{
    intptr_t i = (intptr_t)arg;
    int64_t start = tt_now();
    int rc = tt_sleep(TT_MS(30) + i * TT_MS(5));
    if (rc < 0)
        return rc;
    if (tt_now() - start < TT_MS(30))
        return -EPROTO; /* woke early */
    intptr_t doubled = tt_await(tt_to_thread(embed_blocking_double, (void *)i));
    if (doubled < 0)
        return doubled;
    int p[2];
    if (pipe(p) < 0)
        return -errno;
    char buf[8] = {0};
    intptr_t n = tt_write(p[1], "ping", 4, -1);
    if (n == 4)
        n = tt_read(p[0], buf, sizeof buf, -1);
    close(p[0]);
    close(p[1]);
    if (n != 4 || memcmp(buf, "ping", 4) != 0)
        return n < 0 ? n : -EIO;
    return doubled + n;
}

static intptr_t embed_main(void *arg)
{
    (void)arg;
    tt_future *fs[EMBED_CHILDREN];
    intptr_t results[EMBED_CHILDREN];
    int spawned = 0;
    for (; spawned < EMBED_CHILDREN; spawned++) {
        fs[spawned] = tt_spawn(embed_child, (void *)(intptr_t)spawned);
        if (fs[spawned] == NULL)
            break;
    }
    intptr_t rc = spawned == EMBED_CHILDREN ? tt_gather(fs, EMBED_CHILDREN, results, 0) : -errno;
    for (int i = 0; i < spawned; i++)
        tt_unref(fs[i]);
    if (rc < 0)
        return rc;
    intptr_t sum = 0;
    for (int i = 0; i < EMBED_CHILDREN; i++)
        sum += results[i];
    return sum;
}

/* Offloads only, one after the other: between them nothing but the job can wake the host (no
 * timer, no ready callback), the case where a loop that leaves a new job unsubmitted after
 * tt_loop_run_once would stall its host. Returns 2 * (1 + 2 + 3). */
static intptr_t embed_offload_only(void *arg)
{
    (void)arg;
    intptr_t sum = 0;
    for (intptr_t i = 1; i <= 3; i++) {
        intptr_t r = tt_await(tt_to_thread(embed_blocking_double, (void *)i));
        if (r < 0)
            return r;
        sum += r;
    }
    return sum;
}

/* sum over i of 2 * i + 4 */
#define EMBED_EXPECTED (2 * (0 + 1 + 2 + 3) + 4 * EMBED_CHILDREN)

#endif
