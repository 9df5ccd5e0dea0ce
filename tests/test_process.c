/* Subprocesses: a child that exits with a code, one killed by a signal, one whose waiter is
 * cancelled and that is then freed (no zombie: waitid says there is no such child), pipes as
 * streams both ways, a command that does not exist, the blocked signal mask not inherited. */
#define _GNU_SOURCE
#include "tkutil.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* 1 if pid is still a child of ours (running or a zombie), 0 if it is gone. */
static int still_a_child(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

TASK_TEST(child_exit_code)
{
    char *argv[] = {"sh", "-c", "exit 7", NULL};
    tt_process *p = tt_process_spawn(argv, NULL, 0);
    ck_assert_ptr_nonnull(p);
    pid_t pid = tt_process_pid(p);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(tt_process_fd(p, 1), -EBADF);
    ck_assert_int_eq(tt_process_wait(p), 7);
    ck_assert_int_eq(tt_process_wait(p), 7); /* again, once reaped */
    ck_assert_int_eq(tt_process_kill(p, SIGTERM), -ESRCH);
    ck_assert_int_eq(still_a_child(pid), 0);
    tt_process_free(p);
    return 0;
}

TASK_TEST(child_killed_by_a_signal)
{
    char *argv[] = {"sleep", "30", NULL};
    tt_process *p = tt_process_spawn(argv, NULL, 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tt_process_kill(p, SIGKILL), 0);
    ck_assert_int_eq(tt_process_wait(p), TT_EXIT_SIGNALED + SIGKILL);
    tt_process_free(p);
    return 0;
}

/* The waiter is cancelled (by a timeout): the child runs on; freeing reaps it. */
TASK_TEST(cancelled_waiter_leaves_no_zombie)
{
    char *argv[] = {"sleep", "30", NULL};
    tt_process *p = tt_process_spawn(argv, NULL, 0);
    ck_assert_ptr_nonnull(p);
    pid_t pid = tt_process_pid(p);
    tt_timeout to;
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(20)), 0);
    ck_assert_int_eq(tt_timeout_exit(&to, tt_process_wait(p)), -ETIMEDOUT);
    ck_assert_int_eq(still_a_child(pid), 1);
    ck_assert_int_eq(tt_process_kill(p, 0), 0); /* still running */
    tt_process_free(p);
    ck_assert_int_eq(still_a_child(pid), 0);
    /* A child that exited on its own but was never waited for: reaped by free too. */
    char *quick[] = {"true", NULL};
    p = tt_process_spawn(quick, NULL, 0);
    pid = tt_process_pid(p);
    tt_sleep(TT_MS(50));
    tt_process_free(p);
    ck_assert_int_eq(still_a_child(pid), 0);
    return 0;
}

/* A waiter task cancelled explicitly, then a second wait gets the exit code. */
static intptr_t waiter_run(void *arg) { return tt_process_wait(arg); }

TASK_TEST(cancelled_waiter_then_wait_again)
{
    char *argv[] = {"sh", "-c", "read x; exit 3", NULL};
    tt_process *p = tt_process_spawn(argv, NULL, TT_PIPE_STDIN);
    ck_assert_ptr_nonnull(p);
    tt_future *w = tt_spawn(waiter_run, p);
    tt_sleep(TT_MS(5));
    ck_assert_int_eq(tt_cancel(w, NULL), 1);
    ck_assert_int_eq(tt_await(w), -ECANCELED);
    ck_assert_int_eq(tt_process_close_fd(p, 0), 0); /* end of file: the child exits */
    ck_assert_int_eq(tt_process_close_fd(p, 0), -EBADF);
    ck_assert_int_eq(tt_process_wait(p), 3);
    tt_process_free(p);
    return 0;
}

/* stdin, stdout and stderr as streams; the child's own blocked mask is empty. */
TASK_TEST(pipes_as_streams)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    ck_assert_int_eq(tt_signal_block(&s), 0);
    char *argv[] = {"sh", "-c",
                    "while read l; do echo \"out:$l\"; echo \"err:$l\" >&2; done; "
                    "grep SigBlk /proc/self/status >&2",
                    NULL};
    tt_process *p = tt_process_spawn(argv, NULL, TT_PIPE_STDIN | TT_PIPE_STDOUT | TT_PIPE_STDERR);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tt_write_all(tt_process_fd(p, 0), "a\nbc\n", 5, NULL), 5);
    ck_assert_int_eq(tt_process_close_fd(p, 0), 0);
    tt_stream *out = tt_stream_new(tt_process_fd(p, 1), 0);
    tt_stream *err = tt_stream_new(tt_process_fd(p, 2), 0);
    const char *line;
    ck_assert_int_eq(tt_stream_readline(out, &line), 6);
    ck_assert_int_eq(memcmp(line, "out:a\n", 6), 0);
    ck_assert_int_eq(tt_stream_readline(out, &line), 7);
    ck_assert_int_eq(memcmp(line, "out:bc\n", 7), 0);
    ck_assert_int_eq(tt_stream_readline(out, &line), 0);
    ck_assert_int_eq(tt_stream_readline(err, &line), 6);
    ck_assert_int_eq(memcmp(line, "err:a\n", 6), 0);
    ck_assert_int_eq(tt_stream_readline(err, &line), 7);
    intptr_t n = tt_stream_readline(err, &line);
    ck_assert_int_gt(n, 0);
    ck_assert_msg(strncmp(line, "SigBlk:\t0000000000000000\n", (size_t)n) == 0, "%.*s", (int)n,
                  line);
    ck_assert_int_eq(tt_process_wait(p), 0);
    tt_stream_free(out);
    tt_stream_free(err);
    tt_process_free(p);
    return 0;
}

TASK_TEST(spawn_errors)
{
    char *missing[] = {"/nonexistent/tt-no-such-program", NULL};
    errno = 0;
    ck_assert_ptr_null(tt_process_spawn(missing, NULL, 0));
    ck_assert_int_eq(errno, ENOENT);
    char *missing_in_path[] = {"tt-no-such-program-in-path", NULL};
    ck_assert_ptr_null(tt_process_spawn(missing_in_path, NULL, TT_PIPE_STDOUT));
    ck_assert_int_eq(errno, ENOENT);
    char *none[] = {NULL};
    ck_assert_ptr_null(tt_process_spawn(none, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(tt_process_spawn(NULL, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
    char *ok[] = {"true", NULL};
    ck_assert_ptr_null(tt_process_spawn(ok, NULL, 64));
    ck_assert_int_eq(errno, EINVAL);
    /* envp is used as given. */
    char *env[] = {"TT_TEST_VALUE=42", NULL};
    char *argv[] = {"/bin/sh", "-c", "exit $TT_TEST_VALUE", NULL};
    tt_process *p = tt_process_spawn(argv, env, 0);
    ck_assert_int_eq(tt_process_wait(p), 42);
    ck_assert_int_eq(tt_process_pid(NULL), -EINVAL);
    ck_assert_int_eq(tt_process_fd(NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_process_fd(p, 3), -EINVAL);
    ck_assert_int_eq(tt_process_close_fd(p, -1), -EINVAL);
    ck_assert_int_eq(tt_process_kill(NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_process_kill(p, 1000), -EINVAL);
    ck_assert_int_eq(tt_process_wait(NULL), -EINVAL);
    tt_process_free(p);
    tt_process_free(NULL);
    return 0;
}

/* Out of fds half-way through making the pipes: EMFILE, and every fd taken is given back. */
START_TEST(spawn_out_of_fds_leaks_none)
{
    int before = tk_open_fds();
    int probe = dup(0); /* the lowest free fd: the limit is set just past two more */
    close(probe);
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)probe + 3; /* one pipe fits, the second does not */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    char *argv[] = {"true", NULL};
    errno = 0;
    tt_process *p = tt_process_spawn(argv, NULL, TT_PIPE_STDIN | TT_PIPE_STDOUT | TT_PIPE_STDERR);
    int e = errno;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(e, EMFILE);
    ck_assert_int_eq(tk_open_fds(), before);
    tu_assert_no_leaks();
}
END_TEST

/* Makes pidfd_open fail with ENOSYS in this (forked test) process, as on kernels before 5.3. */
static void refuse_pidfd_open(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_open, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    ck_assert_int_eq(syscall(__NR_pidfd_open, getpid(), 0), -1);
    ck_assert_int_eq(errno, ENOSYS);
}

static intptr_t without_pidfds(void *arg)
{
    (void)arg;
    char *code[] = {"sh", "-c", "sleep 0.05; exit 5", NULL};
    tt_process *p = tt_process_spawn(code, NULL, 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tt_process_wait(p), 5);
    tt_process_free(p);
    char *sleeper[] = {"sleep", "30", NULL};
    p = tt_process_spawn(sleeper, NULL, 0);
    pid_t pid = tt_process_pid(p);
    tt_timeout to;
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(20)), 0);
    ck_assert_int_eq(tt_timeout_exit(&to, tt_process_wait(p)), -ETIMEDOUT);
    ck_assert_int_eq(tt_process_kill(p, SIGTERM), 0);
    ck_assert_int_eq(tt_process_wait(p), TT_EXIT_SIGNALED + SIGTERM);
    tt_process_free(p);
    ck_assert_int_eq(still_a_child(pid), 0);
    p = tt_process_spawn(sleeper, NULL, 0);
    pid = tt_process_pid(p);
    tt_process_free(p); /* killed and reaped */
    ck_assert_int_eq(still_a_child(pid), 0);
    return 0;
}

/* Where the kernel has no pidfds, waiting polls waitid: the same results, no zombie. Last in
 * the suite: the filter stays for the rest of the process when tests do not fork. */
START_TEST(without_pidfds_waiting_polls)
{
    refuse_pidfd_open();
    ck_assert_int_eq(tu_run(without_pidfds, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(wait_outside_a_task_is_eperm)
{
    char *argv[] = {"true", NULL};
    tt_process *p = tt_process_spawn(argv, NULL, 0); /* spawning needs no task */
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tt_process_wait(p), -EPERM);
    pid_t pid = tt_process_pid(p);
    tt_process_free(p);
    ck_assert_int_eq(still_a_child(pid), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("process");
    tcase_add_test(tc, child_exit_code);
    tcase_add_test(tc, child_killed_by_a_signal);
    tcase_add_test(tc, cancelled_waiter_leaves_no_zombie);
    tcase_add_test(tc, cancelled_waiter_then_wait_again);
    tcase_add_test(tc, pipes_as_streams);
    tcase_add_test(tc, spawn_errors);
    tcase_add_test(tc, wait_outside_a_task_is_eperm);
    tcase_add_test(tc, spawn_out_of_fds_leaks_none);
    tcase_add_test(tc, without_pidfds_waiting_polls);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
