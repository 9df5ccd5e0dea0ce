/* tothread-uv: tasks that sleep, offload and do IO complete while libuv's own timer ticks. */
#include "embed_tasks.h"
#include "testutil.h"
#include "tothread-uv.h"

typedef struct host {
    uv_loop_t uv;
    uv_timer_t tick, give_up;
    tt_uv_source *src;
    int ticks;
    int gave_up;
    intptr_t result;
} host;

static void stop_host(host *h)
{
    uv_close((uv_handle_t *)&h->tick, NULL);
    uv_close((uv_handle_t *)&h->give_up, NULL);
    tt_uv_source_close(h->src);
}

static void on_tick(uv_timer_t *t)
{
    ((host *)t->data)->ticks++;
}

static void on_give_up(uv_timer_t *t)
{
    host *h = t->data;
    h->gave_up = 1;
    stop_host(h);
}

static void on_main_done(tt_future *f, void *arg)
{
    host *h = arg;
    h->result = tt_result(f);
    stop_host(h);
}

static void run_in_host(tt_fn main_fn, intptr_t expected, int min_ticks)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    host h = {.result = -1};
    ck_assert_int_eq(uv_loop_init(&h.uv), 0);
    h.src = tt_uv_source_new(&h.uv, loop);
    ck_assert_ptr_nonnull(h.src);
    uv_timer_init(&h.uv, &h.tick);
    uv_timer_init(&h.uv, &h.give_up);
    h.tick.data = h.give_up.data = &h;
    uv_timer_start(&h.tick, on_tick, 10, 10);
    uv_timer_start(&h.give_up, on_give_up, 3000, 0);

    tt_future *main_task = tt_spawn_on(loop, NULL, main_fn, NULL);
    ck_assert_ptr_nonnull(main_task);
    ck_assert_int_eq(tt_on_done(main_task, on_main_done, &h), 0);
    ck_assert_int_eq(uv_run(&h.uv, UV_RUN_DEFAULT), 0); /* returns once every handle is closed */

    ck_assert_msg(!h.gave_up, "the host loop stalled: the tasks did not finish in 3 s (the tt_loop_fd + tt_loop_next_deadline contract was broken)");
    ck_assert_int_eq(h.result, expected);
    ck_assert_int_ge(h.ticks, min_ticks);
    tt_unref(main_task);
    ck_assert_int_eq(uv_loop_close(&h.uv), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}

START_TEST(tasks_sleep_offload_and_do_io_while_the_uv_timer_ticks)
{
    run_in_host(embed_main, EMBED_EXPECTED, 3); /* >= 50 ms of work while the host's timer ran */
}
END_TEST

START_TEST(a_job_alone_wakes_the_uv_host)
{
    run_in_host(embed_offload_only, 12, 1);
}
END_TEST

START_TEST(null_arguments_are_refused)
{
    uv_loop_t uv;
    ck_assert_int_eq(uv_loop_init(&uv), 0);
    errno = 0;
    ck_assert_ptr_null(tt_uv_source_new(&uv, NULL));
    ck_assert_int_eq(errno, EINVAL);
    tt_loop *loop = tt_loop_new(NULL);
    errno = 0;
    ck_assert_ptr_null(tt_uv_source_new(NULL, loop));
    ck_assert_int_eq(errno, EINVAL);
    tt_uv_source_close(NULL);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    ck_assert_int_eq(uv_loop_close(&uv), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("uv");
    TCase *tc = tcase_create("uv");
    tcase_add_test(tc, tasks_sleep_offload_and_do_io_while_the_uv_timer_ticks);
    tcase_add_test(tc, a_job_alone_wakes_the_uv_host);
    tcase_add_test(tc, null_arguments_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
