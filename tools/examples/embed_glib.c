/* tothread inside a GLib main loop (contrib/glib): GLib's own timer prints a tick every 50 ms
 * while a tothread task sleeps, offloads a blocking call and reads a file through the ring.
 *
 *   example-embed_glib        (built when libglib2.0-dev is present; ends by itself) */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <tothread-glib.h>

static GMainLoop *main_loop;

static gboolean tick(gpointer arg)
{
    (void)arg;
    printf("glib: tick\n");
    return G_SOURCE_CONTINUE;
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

/* A safety net for CI: a host loop must never wait forever for tothread. */
static gboolean give_up(gpointer arg)
{
    (void)arg;
    fprintf(stderr, "embed_glib: stalled: the task did not finish in 5 s\n");
    g_main_loop_quit(main_loop);
    return G_SOURCE_REMOVE;
}

static void task_done(tt_future *f, void *arg)
{
    *(intptr_t *)arg = tt_result(f);
    g_main_loop_quit(main_loop);
}

int main(void)
{
    tt_loop *loop = tt_loop_new(NULL);
    GSource *src = loop != NULL ? tt_glib_source_new(loop) : NULL;
    if (src == NULL)
        return 1;
    g_source_attach(src, NULL);
    main_loop = g_main_loop_new(NULL, FALSE);
    guint tick_id = g_timeout_add(50, tick, NULL);
    g_timeout_add_seconds(5, give_up, NULL);
    intptr_t result = -1;
    tt_future *t = tt_spawn_on(loop, NULL, task, NULL);
    tt_on_done(t, task_done, &result);
    g_main_loop_run(main_loop);
    tt_unref(t);
    g_source_remove(tick_id);
    g_source_destroy(src);
    g_source_unref(src);
    g_main_loop_unref(main_loop);
    if (result != 0)
        return 1; /* the task may still be alive: the loop cannot be freed */
    return tt_loop_free(loop) == 0 ? 0 : 1;
}
