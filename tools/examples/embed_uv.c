/* tothread inside a libuv loop (contrib/uv): libuv's own timer prints a tick every 50 ms while
 * a tothread task sleeps, offloads a blocking call and reads a file through the ring.
 *
 *   example-embed_uv        (built when libuv1-dev is present; ends by itself) */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <tothread-uv.h>

static uv_timer_t ticker, safety;
static tt_uv_source *src;

static void tick(uv_timer_t *t)
{
    (void)t;
    printf("libuv: tick\n");
}

static intptr_t blocking_call(void *arg)
{
    usleep(120 * 1000); /* a blocking library call */
    return (intptr_t)arg;
}

static intptr_t task(void *arg)
{
    (void)arg;
    tt_sleep(TT_MS(120));
    printf("tothread: slept 120 ms\n");
    intptr_t r = tt_await(tt_to_thread(blocking_call, (void *)42));
    printf("tothread: blocking call returned %ld\n", (long)r);
    char buf[64] = {0};
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    intptr_t n = tt_read(fd, buf, sizeof buf - 1, 0);
    close(fd);
    printf("tothread: read %ld bytes through the ring\n", (long)n);
    return n < 0 ? n : 0;
}

static void stop(void)
{
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_close((uv_handle_t *)&safety, NULL);
    tt_uv_source_close(src);
}

/* A safety net for CI: a host loop must never wait forever for tothread. */
static void give_up(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "embed_uv: stalled: the task did not finish in 5 s\n");
    stop();
}

/* The task has ended: close our handles and libuv's loop runs out of work. */
static void task_done(tt_future *f, void *arg)
{
    *(intptr_t *)arg = tt_result(f);
    stop();
}

int main(void)
{
    tt_loop *loop = tt_loop_new(NULL);
    src = loop != NULL ? tt_uv_source_new(uv_default_loop(), loop) : NULL;
    if (src == NULL)
        return 1;
    uv_timer_init(uv_default_loop(), &ticker);
    uv_timer_start(&ticker, tick, 50, 50);
    uv_timer_init(uv_default_loop(), &safety);
    uv_timer_start(&safety, give_up, 5000, 0);
    intptr_t result = -1;
    tt_future *t = tt_spawn_on(loop, NULL, task, NULL);
    tt_on_done(t, task_done, &result);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    tt_unref(t);
    uv_loop_close(uv_default_loop());
    if (result != 0)
        return 1; /* the task may still be alive: the loop cannot be freed */
    return tt_loop_free(loop) == 0 ? 0 : 1;
}
