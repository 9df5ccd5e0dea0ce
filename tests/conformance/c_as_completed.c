/* Conformance, section 6 (C038-C041): as_completed hands futures back in completion order
 * (contrast gather's input order), an error surfaces at its position and iteration goes on,
 * empty input yields nothing, duplicates come back once. */
#include "conflog.h"

/* tt_as_completed_next in the 0.1 shape these older tests were written in: the future or NULL,
 * and the code (0 at the end) in *err. */
static tt_future *ac_next(tt_as_completed *it, intptr_t *err)
{
    tt_future *f = NULL;
    int rc = tt_as_completed_next(it, &f, NULL);
    if (err)
        *err = rc < 0 ? rc : 0;
    return f;
}


/* ------------------------------------------------------------------------------ C038 */

static intptr_t c038_main(void *arg)
{
    (void)arg;
    static struct job jobs[] = {{"a", 60, 0, NULL}, {"b", 20, 0, NULL}, {"c", 40, 0, NULL}};
    tt_future *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tt_spawn(job_run, &jobs[i]);
    tt_as_completed *it = tt_as_completed_new(ts, 3, TT_FOREVER);
    char order[64] = "";
    size_t len = 0;
    tt_future *f;
    intptr_t err = 1;
    while ((f = ac_next(it, &err)) != NULL) {
        const char *v = (const char *)tt_result(f);
        cl_log("got %s", v);
        len += (size_t)snprintf(order + len, sizeof order - len, "%s'%s'", len ? ", " : "", v);
    }
    cl_log("order [%s]", order);
    cl_log("end: err %ld", (long)err); /* C only: the end of the iteration is NULL with 0 */
    tt_as_completed_free(it);
    for (int i = 0; i < 3; i++)
        tt_unref(ts[i]);

    cl_log("-- with an error");
    static struct job jobs2[] = {{"x", 40, 0, NULL}, {"E1", 10, E1, NULL}, {"z", 25, 0, NULL}};
    for (int i = 0; i < 3; i++)
        ts[i] = tt_spawn(job_run, &jobs2[i]);
    it = tt_as_completed_new(ts, 3, TT_FOREVER);
    while ((f = ac_next(it, &err)) != NULL) {
        intptr_t r = tt_result(f);
        if (r < 0)
            cl_log("error %s", cl_err(r, NULL));
        else
            cl_log("ok %s", (const char *)r);
    }
    tt_as_completed_free(it);
    for (int i = 0; i < 3; i++)
        tt_unref(ts[i]);
    return 0;
}

START_TEST(c038_completion_order_errors_in_place)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c038_main, NULL), 0);
    cl_expect("got b\n"
              "got c\n"
              "got a\n"
              "order ['b', 'c', 'a']\n"
              "end: err 0\n"
              "-- with an error\n"
              "error AppError('E1')\n"
              "ok z\n"
              "ok x\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C040 */

static int c040_count(tt_as_completed *it)
{
    int n = 0;
    intptr_t err = 0;
    while (ac_next(it, &err))
        n++;
    return err == 0 ? n : (int)err;
}

static intptr_t c040_main(void *arg)
{
    (void)arg;
    tt_future *none[1] = {NULL};
    tt_as_completed *it = tt_as_completed_new(none, 0, TT_FOREVER);
    cl_log("empty yields: %d", c040_count(it));
    tt_as_completed_free(it);
    it = tt_as_completed_new(none, 0, TT_MS(10));
    cl_log("empty with timeout yields: %d", c040_count(it));
    tt_as_completed_free(it);

    static struct job jt = {"t", 10, 0, NULL}, ju = {"u", 20, 0, NULL};
    tt_future *t = tt_spawn(job_run, &jt), *u = tt_spawn(job_run, &ju);
    tt_future *dup[] = {t, t, u, t};
    it = tt_as_completed_new(dup, 4, TT_FOREVER);
    const char *vals[4] = {0};
    int n = 0;
    tt_future *f;
    /* Duplicates are recognised by identity (SCENARIOS, semantic choice 9): each future once. */
    while ((f = ac_next(it, NULL)) != NULL && n < 4)
        vals[n++] = (const char *)tt_result(f);
    cl_log("duplicates yield: %d", n);
    if (n == 2)
        cl_log("values: ['%s', '%s']", vals[0], vals[1]);
    tt_as_completed_free(it);
    tt_unref(t);
    tt_unref(u);
    return 0;
}

START_TEST(c040_empty_and_duplicates)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c040_main, NULL), 0);
    cl_expect("empty yields: 0\n"
              "empty with timeout yields: 0\n"
              "duplicates yield: 2\n"
              "values: ['t', 'u']\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C041 */

/* Python 3.11 yields new awaitables that each mean "the next completion", so awaiting the
 * second one first gives 'a'. C's tt_as_completed_next both waits and hands back the original
 * future (DESIGN: "as_completed hands back the original futures in completion order", as
 * 3.13's async iteration does), so the port checks identity and order instead. */
static intptr_t c041_main(void *arg)
{
    (void)arg;
    static struct job ja = {"a", 20, 0, NULL}, jb = {"b", 40, 0, NULL};
    tt_future *ts[] = {tt_spawn(job_run, &ja), tt_spawn(job_run, &jb)};
    tt_as_completed *it = tt_as_completed_new(ts, 2, TT_FOREVER);
    tt_future *first = ac_next(it, NULL);
    cl_log("yielded object is an input task: %s", cl_bool(first == ts[0] || first == ts[1]));
    cl_log("first next -> %s", first ? (const char *)tt_result(first) : "NULL");
    tt_future *second = ac_next(it, NULL);
    cl_log("second next -> %s", second ? (const char *)tt_result(second) : "NULL");
    tt_as_completed_free(it);
    tt_unref(ts[0]);
    tt_unref(ts[1]);
    return 0;
}

START_TEST(c041_hands_back_original_futures)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c041_main, NULL), 0);
    cl_expect("yielded object is an input task: True\n" /* Python 3.11: False (see above) */
              "first next -> a\n"
              "second next -> b\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *as_completed_suite(void)
{
    Suite *s = suite_create("conformance-as-completed");
    TCase *tc = tcase_create("as_completed");
    tcase_add_test(tc, c038_completion_order_errors_in_place);
    tcase_add_test(tc, c040_empty_and_duplicates);
    tcase_add_test(tc, c041_hands_back_original_futures);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(as_completed_suite)
