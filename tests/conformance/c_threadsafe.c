/* Conformance, section 13 (C088): tt_call_soon_threadsafe from a foreign thread wakes the idle
 * loop promptly, runs the callback on the loop's thread (where it may complete a future), and
 * runs callbacks submitted by one thread in submission order. */
#include "conflog.h"

#include <unistd.h>

static tt_loop *loop;
static pthread_t loop_thread;
static tt_future *fut, *done_fut;
static int seen[10], nseen;

static void c088_cb(void *v)
{
    cl_log("callback on loop thread: %s", cl_bool(pthread_equal(pthread_self(), loop_thread)));
    tt_future_set(fut, (intptr_t)v);
}

static void *c088_producer(void *arg)
{
    (void)arg;
    usleep(20 * 1000);
    tt_call_soon_threadsafe(loop, c088_cb, (void *)42);
    return NULL;
}

static void c088_cb2(void *v)
{
    int i = (int)(intptr_t)v;
    seen[nseen++] = i;
    if (i == 9)
        tt_future_set(done_fut, 0);
}

static void *c088_producer2(void *arg)
{
    (void)arg;
    for (intptr_t i = 0; i < 10; i++)
        tt_call_soon_threadsafe(loop, c088_cb2, (void *)i);
    return NULL;
}

static intptr_t c088_main(void *arg)
{
    (void)arg;
    loop = tt_loop_current();
    loop_thread = pthread_self();
    fut = tt_future_new(NULL);
    pthread_t th;
    int64_t t0 = tt_now();
    pthread_create(&th, NULL, c088_producer, NULL);
    intptr_t v = tt_await(tt_ref(fut)); /* nothing else scheduled: the loop idles until woken */
    cl_log("awaiting task got %ld | woken promptly (<1000ms): %s", (long)v,
           cl_bool(tt_now() - t0 < TT_MS(1000)));
    pthread_join(th, NULL);

    done_fut = tt_future_new(NULL);
    pthread_create(&th, NULL, c088_producer2, NULL);
    tt_await(tt_ref(done_fut));
    pthread_join(th, NULL);
    char order[128];
    size_t len = 0;
    for (int i = 0; i < nseen; i++)
        len += (size_t)snprintf(order + len, sizeof order - len, "%s%d", i ? ", " : "", seen[i]);
    cl_log("order [%s]", order);
    tt_unref(fut);
    tt_unref(done_fut);
    return 0;
}

START_TEST(c088_call_soon_threadsafe_wakes_and_orders)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c088_main, NULL), 0);
    cl_expect("callback on loop thread: True\n"
              "awaiting task got 42 | woken promptly (<1000ms): True\n"
              "order [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *threadsafe_suite(void)
{
    Suite *s = suite_create("conformance-threadsafe");
    TCase *tc = tcase_create("threadsafe");
    tcase_add_test(tc, c088_call_soon_threadsafe_wakes_and_orders);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(threadsafe_suite)
