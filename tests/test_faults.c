/* Faults from outside the library: a task overflowing its stack, io_uring refused by a seccomp
 * filter (asked for by name: a clear error; AUTO falls back, see test_backend), a refused
 * pthread_create, no address space for a stack. Each runs in a forked child
 * where it needs to, and must end in a clear message or a clean error, never a crash or a leak. */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TT_TEST_SANITIZED 1
#endif


/* ---------------------------------------------------------------- stack overflow */

/* Recurses until the guard page stops it (the limit keeps the compiler from calling it an
 * infinite recursion; it is never reached within a 32 KiB stack). */
static int recurse(int depth, int limit)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    if (depth >= limit)
        return pad[0];
    return recurse(depth + 1, limit) + pad[0];
}

static intptr_t overflows(void *arg)
{
    (void)arg;
    return recurse(0, 1 << 30);
}

static intptr_t main_overflow(void *arg)
{
    (void)arg;
    tt_task_opts o = {.name = "deep-recursion", .stack_size = 32 * 1024};
    return tt_await(tt_spawn_on(NULL, &o, overflows, NULL));
}

static void child_overflow(void) { tu_run(main_overflow, NULL); }

START_TEST(stack_overflow_names_the_task)
{
#ifdef TT_TEST_SANITIZED
    /* The sanitizers catch the overflow themselves and print their own report. */
    return;
#endif
    char err[4096];
    int st = tu_run_child(child_overflow, err, sizeof err, 0);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d, stderr: %s", st, err);
    ck_assert_msg(strstr(err, "tothread: stack overflow in task 'deep-recursion'") != NULL,
                  "stderr: %s", err);
}
END_TEST

/* ------------------------------------------------------------ io_uring refused */

static void deny_io_uring_setup(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        _exit(90);
}

static intptr_t never_runs(void *arg)
{
    (void)arg;
    _exit(91);
}

static void child_no_uring(void)
{
    deny_io_uring_setup();
    setenv("TT_BACKEND", "uring", 1); /* by name: no fallback */
    errno = 0;
    if (tt_loop_new(NULL) != NULL || errno != EPERM)
        _exit(92);
    intptr_t r = 7;
    if (tt_run(never_runs, NULL, &r) != -EPERM || r != 7)
        _exit(93);
    unsetenv("TT_BACKEND");
    tt_loop_opts o = {.backend = TT_BACKEND_URING};
    errno = 0;
    if (tt_loop_new(&o) != NULL || errno != EPERM)
        _exit(95);
    tt_live l;
    tt_live_get(&l);
    if (l.futures || l.tasks || l.stacks || l.jobs || l.loops || l.pools)
        _exit(94);
}

START_TEST(io_uring_refused_by_name_is_a_clear_error)
{
    char err[4096];
    int st = tu_run_child(child_no_uring, err, sizeof err, 0);
    ck_assert_msg(WIFEXITED(st), "status %d, stderr: %s", st, err);
    ck_assert_msg(WEXITSTATUS(st) == 0, "child exit %d, stderr: %s", WEXITSTATUS(st), err);
    ck_assert_msg(strstr(err, "tothread: cannot create an io_uring ring: operation not permitted"),
                  "stderr: %s", err);
}
END_TEST

/* ------------------------------------------------------------ no worker thread */

static intptr_t one(void *arg)
{
    (void)arg;
    return 1;
}

static intptr_t main_no_thread(void *arg)
{
    tt_pool *p = arg;
    errno = 0;
    ck_assert_ptr_null(tt_to_thread_on(p, NULL, one, NULL));
    ck_assert_int_eq(errno, EAGAIN);
    errno = 0;
    ck_assert_ptr_null(tt_try_to_thread(p, one, NULL));
    ck_assert_int_eq(errno, EAGAIN);
    return 0;
}

START_TEST(refused_pthread_create_fails_the_call)
{
#ifdef TT_TEST_SANITIZED
    return; /* the sanitizers' allocators abort on a request this large */
#endif
    /* No thread can have a 64 TiB stack: pthread_create fails, and so must the submission. */
    tt_pool_opts o = {.max_threads = 2, .thread_stack_size = (size_t)1 << 46};
    tt_pool *p = tt_pool_new(&o);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tu_run(main_no_thread, p), 0);
    tt_pool_stats st;
    st = tu_pool_stats(p);
    ck_assert_uint_eq(st.threads, 0);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(pool_with_unstartable_min_threads_fails)
{
#ifdef TT_TEST_SANITIZED
    return;
#endif
    tt_pool_opts o = {.min_threads = 1, .max_threads = 2, .thread_stack_size = (size_t)1 << 46};
    errno = 0;
    ck_assert_ptr_null(tt_pool_new(&o));
    ck_assert_int_eq(errno, EAGAIN);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------ no stack memory */

static intptr_t main_big_stack(void *arg)
{
    (void)arg;
    /* 1 GiB of address space is more than the child's limit allows. */
    tt_task_opts o = {.name = "huge", .stack_size = (size_t)1 << 30};
    tt_future *t = tt_spawn_on(NULL, &o, one, NULL);
    if (!t)
        _exit(95);
    intptr_t r = tt_await(t);
    if (r != -ENOMEM)
        _exit(96);
    /* The loop goes on: an ordinary task still runs. */
    return tt_await(tt_spawn(one, NULL));
}

static void child_no_stack_memory(void)
{
    struct rlimit rl = {.rlim_cur = (rlim_t)512 << 20, .rlim_max = (rlim_t)512 << 20};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(97);
    intptr_t r = 0;
    if (tt_run(main_big_stack, NULL, &r) != 0 || r != 1)
        _exit(98);
    tt_live l;
    tt_live_get(&l);
    if (l.futures || l.tasks || l.stacks || l.jobs || l.loops || l.pools)
        _exit(99);
}

START_TEST(stack_allocation_failure_ends_the_task_with_enomem)
{
#ifdef TT_TEST_SANITIZED
    return; /* the sanitizers need far more address space than the limit leaves */
#endif
    char err[4096];
    int st = tu_run_child(child_no_stack_memory, err, sizeof err, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d (exit %d), stderr: %s", st,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1, err);
}
END_TEST

static Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stack_overflow_names_the_task);
    tcase_add_test(tc, io_uring_refused_by_name_is_a_clear_error);
    tcase_add_test(tc, refused_pthread_create_fails_the_call);
    tcase_add_test(tc, pool_with_unstartable_min_threads_fails);
    tcase_add_test(tc, stack_allocation_failure_ends_the_task_with_enomem);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(faults_suite)
