/* Runs the tt-stress tool itself: every scenario briefly (exit 0, "result: PASS"), the two
 * injected faults (exit 1, the fault named), and a bad argument (exit 2 with its message).
 * The binary's path comes from the build (TT_STRESS_EXE); without tools the suite is empty. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#ifdef TT_STRESS_EXE

/* Runs tt-stress with args (NULL-terminated) and inject (NULL: none), collecting stdout and
 * stderr together; returns the exit status (-1 if it did not exit normally). */
static int run_tool(const char *inject, char **out, const char *const *args)
{
    char path[] = "/tmp/tt-stress-test-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (inject)
            setenv("TT_STRESS_INJECT", inject, 1);
        else
            unsetenv("TT_STRESS_INJECT");
        const char *argv[32] = {TT_STRESS_EXE};
        int n = 1;
        for (; args[n - 1] && n < 31; n++)
            argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(TT_STRESS_EXE, (char *const *)argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    off_t len = lseek(fd, 0, SEEK_END);
    *out = calloc(1, (size_t)len + 1);
    ck_assert_int_eq(pread(fd, *out, (size_t)len, 0), len);
    close(fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *const scenarios[] = {"offload", "cancel", "timeout", "group", "io", "mixed", "mixed-lite"};

START_TEST(scenario_passes)
{
    char *out;
    const char *args[] = {scenarios[_i], "--duration", "2", "--no-progress", NULL};
    int rc = run_tool(NULL, &out, args);
    ck_assert_msg(rc == 0, "tt-stress %s exited %d:\n%s", scenarios[_i], rc, out);
    ck_assert_ptr_nonnull(strstr(out, "result: PASS"));
    ck_assert_ptr_nonnull(strstr(out, "lost                0"));
    ck_assert_ptr_nonnull(strstr(out, "\n  seed 1 (--seed 1 replays"));
    free(out);
}
END_TEST

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* A figure of a histogram object in a JSON report: `name` of the object after `section`. */
static unsigned long long json_figure(const char *json, const char *section, const char *name)
{
    const char *p = strstr(json, section);
    ck_assert_msg(p != NULL, "no %s in:\n%s", section, json);
    char key[32];
    snprintf(key, sizeof key, "\"%s\": ", name);
    p = strstr(p, key);
    ck_assert_ptr_nonnull(p);
    return strtoull(p + strlen(key), NULL, 10);
}

/* The io scenario alone, counted: its episodes moved bytes over every kind of stream, blocked
 * calls were cancelled and timed out, and the stream invariant is part of the report. No
 * random cancels of transfers (--cancel-rate 0): those also hit the tt_timeout_exit defect
 * that scenario_passes("io") reports while it stands. */
START_TEST(io_counted_run)
{
    char json[] = "/tmp/tt-stress-test-io-XXXXXX";
    close(mkstemp(json));
    char *out;
    const char *args[] = {"io", "-n", "400", "-c", "6", "--mean", "300us", "--cancel-rate", "0",
                          "--no-progress", "--json", json, NULL};
    int rc = run_tool(NULL, &out, args);
    ck_assert_msg(rc == 0, "exited %d:\n%s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "stream              0"));
    ck_assert_ptr_nonnull(strstr(out, "bytes checked in order"));
    free(out);
    char buf[65536] = "";
    FILE *f = fopen(json, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    unlink(json);
    ck_assert_ptr_nonnull(strstr(buf, "\"io\": {\"bytes\": "));
    ck_assert_ptr_null(strstr(buf, "\"io\": {\"bytes\": 0,"));
    /* io-ok per stream kind: seed 1 gives these six workers streams of every kind, and the
     * kinds partition io-ok. */
    unsigned long long sum = 0;
    static const char *const kinds[] = {"\"pipe\": {", "\"unix\": {", "\"tcp\": {"};
    for (int k = 0; k < 3; k++) {
        const char *sec = strstr(buf, "\"latency_by_stream_ns\"");
        ck_assert_ptr_nonnull(sec);
        unsigned long long n = json_figure(sec, kinds[k], "count");
        ck_assert_msg(n > 0, "no io-ok on %s", kinds[k]);
        sum += n;
    }
    ck_assert_uint_eq(sum, json_figure(buf, "\"outcomes\"", "io-ok"));
    ck_assert_ptr_nonnull(strstr(buf, "\"stream\": 0"));
    ck_assert_ptr_nonnull(strstr(buf, "\"pass\": true"));
}
END_TEST

START_TEST(two_loops_share_a_pool)
{
    char *out;
    const char *args[] = {"mixed", "--duration", "1", "--loops", "2", "-c", "16", "--no-progress", NULL};
    int rc = run_tool(NULL, &out, args);
    ck_assert_msg(rc == 0, "exited %d:\n%s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "2 loop(s)"));
    free(out);
}
END_TEST

START_TEST(inject_drop_is_caught)
{
    char *out;
    const char *args[] = {"offload", "-n", "300", "--mean", "100us", "--no-progress", NULL};
    int rc = run_tool("drop", &out, args);
    ck_assert_msg(rc == 1, "exited %d:\n%s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "INVARIANT FAILED: lost (fault injected: TT_STRESS_INJECT=drop)"));
    free(out);
}
END_TEST

START_TEST(inject_double_is_caught)
{
    char *out;
    const char *args[] = {"cancel", "-n", "300", "--mean", "100us", "--no-progress", NULL};
    int rc = run_tool("double", &out, args);
    ck_assert_msg(rc == 1, "exited %d:\n%s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "INVARIANT FAILED: doubled (fault injected: TT_STRESS_INJECT=double)"));
    free(out);
}
END_TEST

/* Open loop against one pool thread with 1 ms jobs, at 100 000/s: unit k cannot end before
 * (k + 1) ms (one job at a time, each sleeps 1 ms at least) but was due at k * 10 us, so the
 * corrected latency must grow to tens of ms while each unit itself took about one job's time;
 * at 200/s the same pool keeps up. Bounds follow from the sleeps, not from the machine's speed. */
START_TEST(open_loop_corrects_for_saturation)
{
    char sat[] = "/tmp/tt-stress-test-sat-XXXXXX", light[] = "/tmp/tt-stress-test-light-XXXXXX";
    char om[] = "/tmp/tt-stress-test-om-XXXXXX";
    close(mkstemp(sat));
    close(mkstemp(light));
    close(mkstemp(om));
    char *out;
    const char *a1[] = {"offload", "-p", "1", "-c", "1", "--cost", "fixed", "--mean", "1ms", "-n", "60",
                        "--rate", "100000/s", "--no-progress", "--json", sat, "--openmetrics", om, NULL};
    int rc = run_tool(NULL, &out, a1);
    ck_assert_msg(rc == 0, "exited %d:\n%s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "open loop at 100000/s"));
    free(out);
    const char *a2[] = {"offload", "-p", "1", "-c", "1", "--cost", "fixed", "--mean", "1ms", "-n", "40",
                        "--rate", "200", "--no-progress", "--json", light, NULL};
    rc = run_tool(NULL, &out, a2);
    ck_assert_msg(rc == 0, "exited %d:\n%s", rc, out);
    free(out);

    char *js = read_file(sat), *jl = read_file(light), *m = read_file(om);
    unsigned long long c50 = json_figure(js, "\"corrected_ns\"", "p50");
    unsigned long long cmax = json_figure(js, "\"corrected_ns\"", "max");
    unsigned long long u50 = json_figure(js, "\"uncorrected_ns\"", "p50");
    ck_assert_uint_eq(json_figure(js, "\"corrected_ns\"", "count"), 60);
    ck_assert_uint_ge(c50, 25000000);  /* unit 29: >= 30 ms - 0.29 ms */
    ck_assert_uint_ge(cmax, 55000000); /* unit 59: >= 60 ms - 0.59 ms */
    ck_assert_uint_ge(u50, 1000000);   /* a unit is at least its 1 ms job */
    ck_assert_uint_ge(c50, u50);
    unsigned long long l50 = json_figure(jl, "\"corrected_ns\"", "p50");
    ck_assert_uint_ge(l50, json_figure(jl, "\"uncorrected_ns\"", "p50"));
    ck_assert_uint_gt(c50, l50); /* saturation shows in the corrected figure */
    /* The tool's own phases: 60 jobs ran, each at least 1 ms. */
    ck_assert_uint_eq(json_figure(js, "\"phases_ns\"", "count"), 60);
    ck_assert_uint_ge(json_figure(js, "\"run\": {", "min"), 1000000);
    /* The OpenMetrics file has the same run, complete. */
    ck_assert_ptr_nonnull(strstr(m, "tt_stress_unit_latency_seconds_count{correction=\"corrected\"} 60\n"));
    ck_assert_ptr_nonnull(strstr(m, "tt_stress_pass 1\n# EOF\n"));
    free(m);

    /* compare, on the two runs: exit 0, the open loop's figures and both verdicts. */
    const char *a3[] = {"compare", light, sat, NULL};
    rc = run_tool(NULL, &out, a3);
    ck_assert_msg(rc == 0, "exited %d:\n%s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "open_loop/corrected_ns/p50"));
    ck_assert_ptr_nonnull(strstr(out, "open_loop/rate_per_s                                      200           100000"));
    ck_assert_ptr_nonnull(strstr(out, "+49900.0%"));
    ck_assert_ptr_nonnull(strstr(out, "verdict: old PASS, new PASS"));
    free(out);
    const char *a4[] = {"compare", light, "/nonexistent/x.json", NULL};
    rc = run_tool(NULL, &out, a4);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(out, "tt-stress: compare: cannot read '/nonexistent/x.json': No such file or directory\n");
    free(out);
    const char *a5[] = {"compare", light, NULL};
    rc = run_tool(NULL, &out, a5);
    ck_assert_int_eq(rc, 2);
    free(out);
    free(js);
    free(jl);
    unlink(sat);
    unlink(light);
    unlink(om);
}
END_TEST

/* --seed replays: with one worker the whole run is one plan sequence, so which jobs fail
 * (--error-rate) is the same in two runs of one seed. */
START_TEST(seed_replays_a_run)
{
    unsigned long long errors[3];
    const char *seeds[3] = {"9", "9", "10"};
    for (int i = 0; i < 3; i++) {
        char json[] = "/tmp/tt-stress-test-seed-XXXXXX";
        close(mkstemp(json));
        char *out;
        const char *args[] = {"offload", "-n", "300", "-c", "1", "--mean", "20us", "--error-rate", "0.3",
                              "--seed", seeds[i], "--no-progress", "--json", json, NULL};
        int rc = run_tool(NULL, &out, args);
        ck_assert_msg(rc == 0, "exited %d:\n%s", rc, out);
        free(out);
        char *j = read_file(json);
        char want[32];
        snprintf(want, sizeof want, "\"seed\": %s,", seeds[i]);
        ck_assert_ptr_nonnull(strstr(j, want));
        errors[i] = json_figure(j, "\"outcomes\"", "error");
        free(j);
        unlink(json);
    }
    ck_assert_uint_eq(errors[0], errors[1]);
    ck_assert_uint_ne(errors[0], errors[2]);
    ck_assert_uint_gt(errors[0], 50);
    ck_assert_uint_lt(errors[0], 130);
}
END_TEST

START_TEST(bad_argument_exits_2)
{
    char *out;
    const char *args[] = {"offload", "--queue-limit", "4", "--pool-threads", "0", NULL};
    int rc = run_tool(NULL, &out, args);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(out, "tt-stress: --queue-limit needs a pool of its own (--pool-threads >= 1)\n"
                          "usage: tt-stress [mixed-lite|offload|cancel|timeout|group|io|mixed] [OPTIONS] "
                          "(--help for more)\n"
                          "       tt-stress compare OLD.json NEW.json\n");
    free(out);
}
END_TEST

START_TEST(json_and_plot_are_written)
{
    char json[] = "/tmp/tt-stress-test-json-XXXXXX", svg[] = "/tmp/tt-stress-test-svg-XXXXXX";
    close(mkstemp(json));
    close(mkstemp(svg));
    char *out;
    const char *args[] = {"timeout", "-n", "500", "--mean", "200us", "--no-progress",
                          "--json", json, "--plot", svg, NULL};
    int rc = run_tool(NULL, &out, args);
    ck_assert_msg(rc == 0, "exited %d:\n%s", rc, out);
    free(out);
    char buf[65536] = "";
    FILE *f = fopen(json, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "\"submitted\": 500"));
    ck_assert_ptr_nonnull(strstr(buf, "\"pass\": true"));
    f = fopen(svg, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "<svg"));
    unlink(json);
    unlink(svg);
}
END_TEST

#endif

static Suite *stress_run_suite(void)
{
    Suite *s = suite_create("stress_run");
    TCase *tc = tcase_create("tool");
    tcase_set_timeout(tc, 120);
#ifdef TT_STRESS_EXE
    tcase_add_loop_test(tc, scenario_passes, 0, (int)(sizeof scenarios / sizeof scenarios[0]));
    tcase_add_test(tc, io_counted_run);
    tcase_add_test(tc, two_loops_share_a_pool);
    tcase_add_test(tc, inject_drop_is_caught);
    tcase_add_test(tc, inject_double_is_caught);
    tcase_add_test(tc, open_loop_corrects_for_saturation);
    tcase_add_test(tc, seed_replays_a_run);
    tcase_add_test(tc, bad_argument_exits_2);
    tcase_add_test(tc, json_and_plot_are_written);
#endif
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(stress_run_suite)
