/* Failure injection: the library's calls to malloc, calloc, realloc, mmap, pthread_create,
 * eventfd and io_uring_queue_init_params are wrapped at link time (-Wl,--wrap, this binary
 * only: the library has no test hook). A representative program (tt_run with tasks, jobs on the
 * default pool and a lane, gather, wait_for, a timeout scope, sync primitives, timers, a
 * cross-thread submit, pipe IO) runs once per N in a forked child where the Nth wrapped call
 * fails, for every N the program reaches. Each child must end with a clean outcome (0 or a
 * negative errno from tt_run, every call's failure handled) and zero live objects, within its
 * alarm; under ASan its exit also runs the leak check.
 *   inject [--max N] [--verbose]   exit 0: every N held; 1: a failure (named) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tothread.h"

struct io_uring;
struct io_uring_params;

/* ------------------------------------------------------------------ the wrappers */

static atomic_long calls;   /* wrapped calls so far in this process */
static long fail_at;        /* the call to refuse (1-based); 0: none */
static atomic_int injected; /* it happened */

static int refuse(void)
{
    long n = atomic_fetch_add(&calls, 1) + 1;
    if (fail_at && n == fail_at) {
        atomic_store(&injected, 1);
        return 1;
    }
    return 0;
}

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    if (refuse()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}
void *__real_calloc(size_t n, size_t m);
void *__wrap_calloc(size_t n, size_t m)
{
    if (refuse()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, m);
}
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
    if (refuse()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}
void *__real_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
    if (refuse()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap(a, n, prot, flags, fd, off);
}
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    if (refuse())
        return EAGAIN;
    return __real_pthread_create(t, a, fn, arg);
}
int __real_eventfd(unsigned v, int flags);
int __wrap_eventfd(unsigned v, int flags)
{
    if (refuse()) {
        errno = EMFILE;
        return -1;
    }
    return __real_eventfd(v, flags);
}
int __real_io_uring_queue_init_params(unsigned entries, struct io_uring *r, struct io_uring_params *p);
int __wrap_io_uring_queue_init_params(unsigned entries, struct io_uring *r, struct io_uring_params *p)
{
    if (refuse())
        return -ENOMEM;
    return __real_io_uring_queue_init_params(entries, r, p);
}

/* ------------------------------------------------------- the representative program */

static intptr_t job(void *arg)
{
    usleep(200);
    return (intptr_t)(uintptr_t)arg;
}
static intptr_t sleeper(void *arg)
{
    return tt_sleep((int64_t)(uintptr_t)arg);
}
static void cb(void *arg) { ++*(int *)arg; }
static intptr_t submitted(void *arg) { (void)arg; return tt_sleep(TT_US(100)); }
static void *thread_main(void *arg)
{
    tt_cfuture_free(tt_loop_submit(arg, submitted, NULL)); /* the task runs on */
    return NULL;
}

/* Awaits f if there is one (a refused call gave NULL). */
static intptr_t await_opt(tt_future *f) { return f ? tt_await(f) : -ENOMEM; }

static intptr_t program(void *arg)
{
    (void)arg;
    tt_loop *loop = tt_loop_current();
    int ran = 0;
    tt_call_soon(loop, cb, &ran);
    tt_call_later(loop, TT_US(50), cb, &ran);

    tt_future *f = tt_future_new(NULL);
    if (f) {
        tt_future_set(f, 1);
        tt_unref(f);
    }
    tt_future *t[3] = {tt_spawn(sleeper, (void *)(uintptr_t)TT_US(100)),
                       tt_to_thread(job, (void *)1), tt_to_thread(job, (void *)2)};
    tt_future *present[3];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        if (t[i])
            present[n++] = t[i];
    intptr_t res[3];
    if (n)
        tt_gather(present, n, res, TT_RETURN_ERRORS);
    for (size_t i = 0; i < n; i++)
        tt_unref(present[i]);

    tt_future *slow = tt_spawn(sleeper, (void *)(uintptr_t)TT_MS(20));
    if (slow)
        tt_wait_for(slow, TT_US(100));

    tt_timeout to;
    if (tt_timeout_enter(&to, TT_US(100)) == 0)
        tt_timeout_exit(&to, tt_sleep(TT_MS(10)));

    tt_event *e = tt_event_new();
    tt_lock *l = tt_lock_new();
    tt_queue *q = tt_queue_new(1);
    if (e)
        tt_event_set(e);
    if (e)
        tt_event_wait(e);
    if (l && tt_lock_acquire(l) == 0)
        tt_lock_release(l);
    void *item;
    if (q && tt_queue_put(q, &item) == 0)
        tt_queue_get(q, &item);
    tt_event_free(e);
    tt_lock_free(l);
    tt_queue_free(q);

    tt_pool_opts po = {.min_threads = 1, .max_threads = 2};
    tt_pool *lane = tt_pool_new(&po);
    if (lane) {
        tt_job_opts jo = {.flags = TT_ABANDON_ON_CANCEL};
        await_opt(tt_to_thread_on(lane, &jo, job, (void *)3));
        tt_pool_free(lane);
    }

    pthread_t th;
    if (__real_pthread_create(&th, NULL, thread_main, loop) == 0)
        pthread_join(th, NULL); /* it only posts to the loop: joining cannot deadlock */

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == 0) {
        char b[8] = "inject";
        if (tt_write(fds[1], b, sizeof b, -1) == (intptr_t)sizeof b)
            tt_read(fds[0], b, sizeof b, -1);
        close(fds[0]);
        close(fds[1]);
    }
    /* Growth paths: the timer heap and the call_later table past their first sizes, a custom
     * stack size, wait's and as_completed's arrays, a group, waiters for a bounded queue. */
    tt_future *many[40];
    size_t nm = 0;
    for (int i = 0; i < 40; i++) {
        tt_call_later(loop, TT_US(10 + i), cb, &ran);
        if ((many[nm] = tt_spawn(sleeper, (void *)(uintptr_t)TT_US(20 + i))))
            nm++;
    }
    if (nm) {
        tt_wait(many, nm, TT_FIRST_COMPLETED, TT_MS(5));
        tt_as_completed *it = tt_as_completed_new(many, nm < 3 ? nm : 3, TT_MS(50));
        while (it && tt_as_completed_next(it, NULL, NULL) == 1)
            ;
        tt_as_completed_free(it);
        tt_gather(many, nm, NULL, TT_RETURN_ERRORS);
    }
    for (size_t i = 0; i < nm; i++)
        tt_unref(many[i]);
    /* A burst past 2032 stacks alive at once: the stack pool's chunks reach full size, its
     * preparer thread starts and hands over a chunk, and the chunks it prepared beyond the
     * need are unmapped unused at the loop's end. */
#ifndef __SANITIZE_THREAD__ /* under TSan each task's fiber costs ~1 ms: test_task covers it */
    static tt_future *burst[2100];
    size_t nb = 0;
    while (nb < 2100 && (burst[nb] = tt_spawn(sleeper, (void *)(uintptr_t)TT_US(1))))
        nb++;
    for (size_t i = 0; i < nb; i++)
        tt_await(burst[i]); /* consumes the reference */
#endif
    tt_task_opts big = {.name = "big", .stack_size = 128 * 1024};
    await_opt(tt_spawn_on(NULL, &big, sleeper, (void *)(uintptr_t)TT_US(10)));
    tt_group *g = tt_group_new();
    if (g) {
        tt_unref(tt_group_spawn(g, sleeper, (void *)(uintptr_t)TT_US(10)));
        tt_unref(tt_group_spawn(g, sleeper, (void *)(uintptr_t)TT_US(20)));
        tt_group_join(g);
        tt_group_free(g);
    }
    tt_pool_opts bo = {.max_threads = 1, .queue_limit = 1};
    tt_pool *bounded = tt_pool_new(&bo);
    if (bounded) {
        tt_future *js[4];
        size_t nj = 0;
        for (int i = 0; i < 4; i++) /* the later ones wait for room */
            if ((js[nj] = tt_to_thread_on(bounded, NULL, job, (void *)5)))
                nj++;
        for (size_t i = 0; i < nj; i++)
            tt_await(js[i]);
        tt_pool_free(bounded);
    }
    tt_unref(tt_to_thread(job, (void *)4)); /* left to tt_run's shutdown */
    return 0;
}

/* 0: held and the failure was injected; 3: held, N was never reached; 1: a check failed. */
static int child(long n)
{
    fail_at = n;
    intptr_t r = 1;
    int rc = tt_run(program, NULL, &r);
    /* main itself may end with a negative errno (no memory for its stack): clean too */
    if (rc > 0 || rc < -4095 || (rc == 0 && (r > 0 || r < -4095))) {
        printf("inject: call %ld: tt_run gave %d, main %ld\n", n, rc, (long)r);
        return 1;
    }
    tt_live lv;
    tt_live_get(&lv);
    if (lv.futures || lv.tasks || lv.stacks || lv.jobs || lv.loops || lv.pools) {
        printf("inject: call %ld: live objects left: futures=%ld tasks=%ld stacks=%ld "
               "jobs=%ld loops=%ld pools=%ld\n", n, lv.futures, lv.tasks, lv.stacks, lv.jobs,
                lv.loops, lv.pools);
        return 1;
    }
    return atomic_load(&injected) ? 0 : 3;
}

int main(int argc, char **argv)
{
    long max = 100000;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--max") && i + 1 < argc)
            max = atol(argv[++i]);
        else if (!strcmp(argv[i], "--verbose"))
            verbose = 1;
        else {
            fprintf(stderr, "usage: inject [--max N] [--verbose]\n");
            return 2;
        }
    }
    long n, beyond = 0;
    /* Thread timing changes the number of calls a little from run to run: stop after several
     * consecutive runs that never reached their N. */
    for (n = 1; n <= max && beyond < 8; n++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("inject: fork");
            return 1;
        }
        if (pid == 0) {
            alarm(30);
            if (!verbose) /* the library's one-line messages for refused set-ups */
                (void)!freopen("/dev/null", "w", stderr);
            int out = child(n);
            fflush(NULL);
            exit(out);
        }
        int st;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st)) {
            fprintf(stderr, "inject: call %ld: the child died of signal %d\n", n, WTERMSIG(st));
            return 1;
        }
        int code = WEXITSTATUS(st);
        if (code != 0 && code != 3) {
            fprintf(stderr, "inject: call %ld failed (exit %d)\n", n, code);
            return 1;
        }
        beyond = code == 3 ? beyond + 1 : 0;
        if (verbose)
            fprintf(stderr, "inject: call %ld: %s\n", n, code ? "not reached" : "held");
    }
    printf("inject: failures injected at calls 1..%ld: all held\n", n - 1 - beyond);
    return 0;
}
