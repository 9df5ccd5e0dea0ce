/* tothread-glib: tasks that sleep, offload and do IO complete while GLib's own timer ticks. */
#include "embed_tasks.h"
#include "testutil.h"
#include "tothread-glib.h"

typedef struct host {
    GMainLoop *main_loop;
    int ticks;
    int gave_up;
    intptr_t result;
} host;

static gboolean on_tick(gpointer arg)
{
    ((host *)arg)->ticks++;
    return G_SOURCE_CONTINUE;
}

static gboolean on_give_up(gpointer arg)
{
    host *h = arg;
    h->gave_up = 1;
    g_main_loop_quit(h->main_loop);
    return G_SOURCE_REMOVE;
}

static void on_main_done(tt_future *f, void *arg)
{
    host *h = arg;
    h->result = tt_result(f);
    g_main_loop_quit(h->main_loop);
}

static void run_in_host(tt_fn main_fn, intptr_t expected, int min_ticks)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    host h = {.main_loop = g_main_loop_new(ctx, FALSE), .result = -1};

    GSource *src = tt_glib_source_new(loop);
    ck_assert_ptr_nonnull(src);
    g_source_attach(src, ctx);
    GSource *tick = g_timeout_source_new(10);
    g_source_set_callback(tick, on_tick, &h, NULL);
    g_source_attach(tick, ctx);
    GSource *give_up = g_timeout_source_new_seconds(3);
    g_source_set_callback(give_up, on_give_up, &h, NULL);
    g_source_attach(give_up, ctx);

    tt_future *main_task = tt_spawn_on(loop, NULL, main_fn, NULL);
    ck_assert_ptr_nonnull(main_task);
    ck_assert_int_eq(tt_on_done(main_task, on_main_done, &h), 0);
    g_main_loop_run(h.main_loop);

    ck_assert_msg(!h.gave_up, "the host loop stalled: the tasks did not finish in 3 s (the tt_loop_fd + tt_loop_next_deadline contract was broken)");
    ck_assert_int_eq(h.result, expected);
    ck_assert_int_ge(h.ticks, min_ticks);
    tt_unref(main_task);

    g_source_destroy(give_up);
    g_source_unref(give_up);
    g_source_destroy(tick);
    g_source_unref(tick);
    g_source_destroy(src);
    g_source_unref(src);
    g_main_loop_unref(h.main_loop);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}

START_TEST(tasks_sleep_offload_and_do_io_while_the_glib_timer_ticks)
{
    run_in_host(embed_main, EMBED_EXPECTED, 3); /* >= 50 ms of work while the host's timer ran */
}
END_TEST

START_TEST(a_job_alone_wakes_the_glib_host)
{
    run_in_host(embed_offload_only, 12, 1);
}
END_TEST

START_TEST(a_null_loop_is_refused)
{
    errno = 0;
    ck_assert_ptr_null(tt_glib_source_new(NULL));
    ck_assert_int_eq(errno, EINVAL);
    tu_assert_no_leaks();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("glib");
    TCase *tc = tcase_create("glib");
    tcase_add_test(tc, tasks_sleep_offload_and_do_io_while_the_glib_timer_ticks);
    tcase_add_test(tc, a_job_alone_wakes_the_glib_host);
    tcase_add_test(tc, a_null_loop_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
