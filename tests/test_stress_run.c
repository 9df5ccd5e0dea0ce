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
    free(out);
}
END_TEST

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
    tcase_add_test(tc, bad_argument_exits_2);
    tcase_add_test(tc, json_and_plot_are_written);
#endif
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(stress_run_suite)
