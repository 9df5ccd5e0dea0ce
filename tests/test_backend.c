/* The backends: how a loop gets io_uring or epoll (the option, TT_BACKEND, AUTO's fallback and
 * its one debug-mode note), tt_loop_backend, and the IO behaviours a readiness loop could get
 * wrong: short transfers on nonblocking and blocking fds (whose mode we must leave alone), a
 * cancelled recv that leaves its bytes to the next reader, file IO on the pool and the cancel of
 * a file call that has not started. The IO tests run on every backend this machine allows; the
 * rest of the suite runs on both in CI (TT_BACKEND=epoll). */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whether this process may use io_uring (not under a seccomp filter or a sysctl refusing it). */
static int uring_allowed(void)
{
    static int allowed = -1; /* asked once: a refusal prints its line on stderr */
    if (allowed < 0) {
        tt_loop_opts o = {.backend = TT_BACKEND_URING};
        tt_loop *l = tt_loop_new(&o);
        allowed = l != NULL;
        if (l)
            ck_assert_int_eq(tt_loop_free(l), 0);
    }
    return allowed;
}

/* Runs fn(arg) as a task of a new loop with the given backend and default pool. */
static intptr_t run_on(tt_backend kind, tt_pool *pool, tt_fn fn, void *arg)
{
    tt_loop_opts o = {.backend = kind, .pool = pool};
    tt_loop *loop = tt_loop_new(&o);
    ck_assert_ptr_nonnull(loop);
    ck_assert_str_eq(tt_loop_backend(loop), kind == TT_BACKEND_EPOLL ? "epoll" : "io_uring");
    tt_future *f = tt_spawn_on(loop, NULL, fn, arg);
    ck_assert_ptr_nonnull(f);
    intptr_t r = tt_loop_run_until(loop, f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    return r;
}

/* Runs fn on each backend allowed here, with a pool of its own freed after. */
static void run_on_each(tt_fn fn, void *arg)
{
    tt_backend kinds[] = {TT_BACKEND_EPOLL, TT_BACKEND_URING};
    for (int i = 0; i < 2; i++) {
        if (kinds[i] == TT_BACKEND_URING && !uring_allowed())
            continue;
        tt_pool_opts po = {.max_threads = 2};
        tt_pool *p = tt_pool_new(&po);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(run_on(kinds[i], p, fn, arg), 0);
        ck_assert_int_eq(tt_pool_free(p), 0);
    }
    tu_assert_no_leaks();
}

/* ------------------------------------------------------------------------ selection */

static intptr_t zero(void *arg)
{
    (void)arg;
    return 0;
}

START_TEST(the_option_chooses_the_backend)
{
    tt_loop_opts o = {.backend = TT_BACKEND_EPOLL};
    tt_loop *l = tt_loop_new(&o);
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(tt_loop_backend(l), "epoll");
    ck_assert_str_eq(tt_loop_backend(NULL), "epoll"); /* NULL: the current loop */
    ck_assert_int_eq(tt_loop_free(l), 0);

    o.backend = TT_BACKEND_URING;
    errno = 0;
    l = tt_loop_new(&o);
    if (l) {
        ck_assert_str_eq(tt_loop_backend(l), "io_uring");
        ck_assert_int_eq(tt_loop_free(l), 0);
    } else {
        ck_assert_msg(errno == EPERM || errno == ENOSYS, "errno %d", errno);
    }
    tu_assert_no_leaks();
}
END_TEST

START_TEST(bad_backend_arguments_are_refused)
{
    errno = 0;
    ck_assert_ptr_null(tt_loop_backend(NULL)); /* no loop on this thread */
    ck_assert_int_eq(errno, EPERM);
    tt_loop_opts o = {.backend = (tt_backend)3};
    errno = 0;
    ck_assert_ptr_null(tt_loop_new(&o));
    ck_assert_int_eq(errno, EINVAL);
    o.backend = (tt_backend)-1;
    errno = 0;
    ck_assert_ptr_null(tt_loop_new(&o));
    ck_assert_int_eq(errno, EINVAL);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(tt_backend_environment_variable_decides_auto)
{
    const char *old = getenv("TT_BACKEND");
    char *saved = old ? strdup(old) : NULL;
    setenv("TT_BACKEND", "epoll", 1);
    tt_loop *l = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(tt_loop_backend(l), "epoll");
    ck_assert_int_eq(tt_loop_free(l), 0);

    /* An explicit option wins over the environment. */
    setenv("TT_BACKEND", "uring", 1);
    tt_loop_opts o = {.backend = TT_BACKEND_EPOLL};
    l = tt_loop_new(&o);
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(tt_loop_backend(l), "epoll");
    ck_assert_int_eq(tt_loop_free(l), 0);

    /* A value naming nothing is an error, not a silent default; tt_run says the same. */
    setenv("TT_BACKEND", "kqueue", 1);
    errno = 0;
    ck_assert_ptr_null(tt_loop_new(NULL));
    ck_assert_int_eq(errno, EINVAL);
    intptr_t r = 5;
    ck_assert_int_eq(tt_run(zero, NULL, &r), -EINVAL);
    ck_assert_int_eq(r, 5);

    if (saved) {
        setenv("TT_BACKEND", saved, 1);
        free(saved);
    } else {
        unsetenv("TT_BACKEND");
    }
    tu_assert_no_leaks();
}
END_TEST

/* --------------------------------------------------------------- AUTO's fallback */

/* Refuses io_uring_setup with EPERM (Docker's default profile does), and epoll_pwait2 with
 * ENOSYS when asked (a kernel before 5.11, whose timeouts go through a timerfd). */
static void deny_syscalls(int deny_pwait2)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, deny_pwait2 ? __NR_epoll_pwait2 : ~0u, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        _exit(90);
}

static char warned[1024];
static int nwarned;

static void capture(const char *msg, void *arg)
{
    (void)arg;
    nwarned++;
    snprintf(warned, sizeof warned, "%s", msg);
}

static intptr_t seven(void *arg)
{
    (void)arg;
    return 7;
}


/* tu_run_child's exit code (-1 if the child did not exit). */
static int in_child(void (*fn)(void), char *err, size_t errlen)
{
    int st = tu_run_child(fn, err, errlen, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void child_fallback(void)
{
    deny_syscalls(0);
    setenv("TT_BACKEND", "auto", 1);
    /* Outside debug mode the fallback is silent. */
    tt_loop *l = tt_loop_new(NULL);
    if (!l || strcmp(tt_loop_backend(l), "epoll") != 0)
        _exit(91);
    tt_loop_free(l);
    /* In debug mode it is said once, on the warn handler, with the errno and its usual cause. */
    tt_set_warn_handler(capture, NULL);
    tt_loop_opts o = {.debug = 1};
    for (int i = 0; i < 2; i++) {
        l = tt_loop_new(&o);
        if (!l || strcmp(tt_loop_backend(l), "epoll") != 0)
            _exit(92);
        tt_loop_free(l);
    }
    if (nwarned != 1 || !strstr(warned, "io_uring_setup failed with EPERM (1)") ||
        !strstr(warned, "seccomp") || !strstr(warned, "epoll backend"))
        _exit(93);
    /* tt_run falls back too; the whole program runs. */
    intptr_t r = 0;
    if (tt_run(seven, NULL, &r) != 0 || r != 7)
        _exit(94);
    /* Asked for by name, io_uring's refusal stays an error with a clear message. */
    o.backend = TT_BACKEND_URING;
    errno = 0;
    if (tt_loop_new(&o) != NULL || errno != EPERM)
        _exit(95);
    tt_live lv;
    tt_live_get(&lv);
    if (lv.futures || lv.tasks || lv.stacks || lv.jobs || lv.loops || lv.pools)
        _exit(96);
}

START_TEST(auto_falls_back_to_epoll_and_says_so_once_in_debug_mode)
{
    char err[4096];
    int code = in_child(child_fallback, err, sizeof err);
    ck_assert_msg(code == 0, "child exit %d, stderr: %s", code, err);
    /* Only the refusal asked for by name printed its line. */
    ck_assert_msg(strstr(err, "tothread: cannot create an io_uring ring: operation not permitted"),
                  "stderr: %s", err);
    int lines = 0;
    for (const char *p = err; (p = strstr(p, "tothread:")); p++)
        lines++;
    ck_assert_msg(lines == 1, "stderr: %s", err);
}
END_TEST

/* Timers below a millisecond without epoll_pwait2: a timerfd carries them; they never fire
 * early and the loop sleeps in between (a lower bound only: no timing is asserted). */
static intptr_t short_sleeps(void *arg)
{
    (void)arg;
    int64_t t0 = tt_now();
    for (int i = 0; i < 20; i++)
        if (tt_sleep(TT_US(150)) != 0)
            return 1;
    return tt_now() - t0 >= TT_US(3000) ? 0 : 2;
}

static void child_no_pwait2(void)
{
    deny_syscalls(1);
    tt_loop_opts o = {.backend = TT_BACKEND_EPOLL};
    tt_loop *l = tt_loop_new(&o);
    if (!l)
        _exit(91);
    intptr_t r = tt_loop_run_until(l, tt_spawn_on(l, NULL, short_sleeps, NULL));
    if (r != 0)
        _exit(92 + (int)r);
    tt_loop_free(l);
}

START_TEST(sub_millisecond_timers_without_epoll_pwait2)
{
    char err[4096];
    int code = in_child(child_no_pwait2, err, sizeof err);
    ck_assert_msg(code == 0, "child exit %d, stderr: %s", code, err);
}
END_TEST

/* ------------------------------------------------------------------- partial IO */

/* A send larger than the socket buffer returns what went (a count, maybe short), and exactly
 * those bytes arrive: nothing sent goes unreported. On a nonblocking and on a blocking fd. */
static intptr_t short_send(void *arg)
{
    int nonblock = (int)(intptr_t)arg;
    int sv[2];
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    ck_assert_int_eq(socketpair(AF_UNIX, type, 0, sv), 0);
    int before = fcntl(sv[0], F_GETFL);
    size_t n = 4 << 20;
    char *buf = malloc(n);
    memset(buf, 'x', n);
    intptr_t w = tt_send(sv[0], buf, n, 0);
    ck_assert_int_gt(w, 0);
    ck_assert_int_le(w, (intptr_t)n);
    ck_assert_int_eq(fcntl(sv[0], F_GETFL), before); /* the user's mode is untouched */
    size_t got = 0;
    intptr_t r;
    while ((r = recv(sv[1], buf, n, MSG_DONTWAIT)) > 0)
        got += (size_t)r;
    ck_assert_uint_eq(got, (size_t)w);
    free(buf);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(short_send_on_nonblocking_socket) { run_on_each(short_send, (void *)1); }
END_TEST
START_TEST(short_send_on_blocking_socket) { run_on_each(short_send, (void *)0); }
END_TEST

/* A write to a blocking pipe with less room than asked: a count, exactly what the reader gets;
 * and a read from an empty blocking pipe waits without blocking the loop. The pipe stays
 * blocking. */
typedef struct pipe_ctx {
    int rfd, wfd;
} pipe_ctx;

static intptr_t late_writer(void *arg)
{
    pipe_ctx *p = arg;
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0);
    return tt_write(p->wfd, "late", 4, -1);
}

static intptr_t pipe_io(void *arg)
{
    (void)arg;
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    pipe_ctx p = {fds[0], fds[1]};
    size_t n = 1 << 20;
    char *buf = malloc(n);
    memset(buf, 'y', n);
    intptr_t w = tt_write(p.wfd, buf, n, -1);
    ck_assert_int_gt(w, 0);
    ck_assert_int_le(w, (intptr_t)n);
    ck_assert_int_eq(fcntl(p.wfd, F_GETFL) & O_NONBLOCK, 0);
    size_t got = 0;
    while (got < (size_t)w) {
        intptr_t r = tt_read(p.rfd, buf, n, -1);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    ck_assert_uint_eq(got, (size_t)w);
    struct pollfd pf = {.fd = p.rfd, .events = POLLIN};
    ck_assert_int_eq(poll(&pf, 1, 0), 0); /* nothing more */
    /* Empty and blocking: the read waits while another task runs and writes. */
    tt_future *wr = tt_spawn(late_writer, &p);
    char small[8] = {0};
    ck_assert_int_eq(tt_read(p.rfd, small, sizeof small, -1), 4);
    ck_assert_str_eq(small, "late");
    ck_assert_int_eq(tt_await(wr), 4);
    ck_assert_int_eq(fcntl(p.rfd, F_GETFL) & O_NONBLOCK, 0);
    free(buf);
    close(p.rfd);
    close(p.wfd);
    return 0;
}

START_TEST(pipe_short_write_and_waiting_read_on_blocking_fds) { run_on_each(pipe_io, NULL); }
END_TEST

/* ------------------------------------------------------------------- cancellation */

typedef struct reader {
    int fd;
    char buf[16];
    intptr_t rc;
} reader;

static intptr_t read_some(void *arg)
{
    reader *r = arg;
    r->rc = tt_recv(r->fd, r->buf, sizeof r->buf, 0);
    return r->rc;
}

/* A recv cancelled while it waits consumed nothing: the bytes sent after go to the next reader.
 * Cancelled in the same turn as the data arrives, either the first reader reports them or the
 * second gets them: never neither. */
static intptr_t cancelled_recv(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    reader a = {.fd = sv[1], .rc = 1};
    tt_future *ta = tt_spawn(read_some, &a);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(tt_cancel(ta, NULL), 1);
    ck_assert_int_eq(tt_await(ta), -ECANCELED);
    ck_assert_int_eq(a.rc, -ECANCELED);
    ck_assert_int_eq(send(sv[0], "abc", 3, 0), 3);
    reader b = {.fd = sv[1]};
    ck_assert_int_eq(tt_await(tt_spawn(read_some, &b)), 3);
    ck_assert_int_eq(memcmp(b.buf, "abc", 3), 0);

    for (int i = 0; i < 20; i++) {
        reader c = {.fd = sv[1], .rc = 1}, d = {.fd = sv[1]};
        tt_future *tc = tt_spawn(read_some, &c);
        ck_assert_int_eq(tt_sleep(TT_US(200)), 0);
        ck_assert_int_eq(send(sv[0], "xyz", 3, 0), 3);
        tt_cancel(tc, NULL);
        tt_await(tc);
        intptr_t first = c.rc == -ECANCELED ? 0 : c.rc;
        ck_assert_msg(first == 0 || first == 3, "first reader: %ld", (long)c.rc);
        if (first == 0) {
            ck_assert_int_eq(tt_await(tt_spawn(read_some, &d)), 3);
            ck_assert_int_eq(memcmp(d.buf, "xyz", 3), 0);
        } else {
            ck_assert_int_eq(memcmp(c.buf, "xyz", 3), 0);
        }
        struct pollfd pf = {.fd = sv[1], .events = POLLIN};
        ck_assert_int_eq(poll(&pf, 1, 0), 0);
    }
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancelled_recv_leaves_the_bytes_for_the_next_reader)
{
    run_on_each(cancelled_recv, NULL);
}
END_TEST

/* A short read leaves the fd marked drained on epoll; data that is already there when the next
 * call comes (a second datagram queued, or bytes that arrived in between) must still be read at
 * once, not waited for forever. */
static intptr_t short_read_then_more(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(send(sv[0], "one", 3, 0), 3);
    ck_assert_int_eq(send(sv[0], "two!", 4, 0), 4);
    char buf[32] = {0};
    ck_assert_int_eq(tt_recv(sv[1], buf, sizeof buf, 0), 3);
    ck_assert_int_eq(tt_recv(sv[1], buf, sizeof buf, 0), 4);
    ck_assert_int_eq(memcmp(buf, "two!", 4), 0);
    close(sv[0]);
    close(sv[1]);

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(send(sv[0], "abc", 3, 0), 3);
    ck_assert_int_eq(tt_recv(sv[1], buf, sizeof buf, 0), 3);
    ck_assert_int_eq(send(sv[0], "de", 2, 0), 2); /* arrives before the next call */
    ck_assert_int_eq(tt_read(sv[1], buf, sizeof buf, -1), 2);
    ck_assert_int_eq(memcmp(buf, "de", 2), 0);
    /* The same fd number, closed behind the library's back and reused for a new socket, carries
     * no stale state that could hang it. */
    int old = sv[1];
    close(sv[1]);
    int again[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, again), 0);
    int target = again[0] == old ? again[0] : again[1];
    int peer = target == again[0] ? again[1] : again[0];
    ck_assert_int_eq(send(peer, "fresh", 5, 0), 5);
    ck_assert_int_eq(tt_recv(target, buf, sizeof buf, 0), 5);
    ck_assert_int_eq(memcmp(buf, "fresh", 5), 0);
    close(sv[0]);
    close(again[0]);
    close(again[1]);
    return 0;
}

START_TEST(data_already_there_after_a_short_read_is_read_at_once)
{
    run_on_each(short_read_then_more, NULL);
}
END_TEST

/* Embedding: the fd tt_loop_fd hands out (an eventfd on io_uring, the epoll fd itself on epoll)
 * turns readable when a socket a task waits on has data, and run_once then finishes the task. */
static intptr_t recv_one(void *arg)
{
    char c;
    return tt_recv((int)(intptr_t)arg, &c, 1, 0);
}

START_TEST(the_embedding_fd_wakes_the_host_for_socket_data)
{
    tt_backend kinds[] = {TT_BACKEND_EPOLL, TT_BACKEND_URING};
    for (int k = 0; k < 2; k++) {
        if (kinds[k] == TT_BACKEND_URING && !uring_allowed())
            continue;
        tt_loop_opts o = {.backend = kinds[k]};
        tt_loop *loop = tt_loop_new(&o);
        ck_assert_ptr_nonnull(loop);
        int efd = tt_loop_fd(loop);
        ck_assert_int_ge(efd, 0);
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        tt_future *t = tt_spawn_on(loop, NULL, recv_one, (void *)(intptr_t)sv[1]);
        for (int i = 0; i < 4; i++)
            ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
        ck_assert_int_eq(tt_done(t), 0); /* waiting for data */
        ck_assert_int_eq(send(sv[0], "!", 1, 0), 1);
        for (int i = 0; i < 100 && !tt_done(t); i++) {
            struct pollfd p = {.fd = efd, .events = POLLIN};
            ck_assert_int_eq(poll(&p, 1, 5000), 1); /* the host wakes */
            ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
        }
        ck_assert_int_eq(tt_result(t), 1);
        tt_unref(t);
        ck_assert_int_eq(tt_loop_free(loop), 0);
        close(sv[0]);
        close(sv[1]);
    }
    tu_assert_no_leaks();
}
END_TEST

/* ---------------------------------------------------------------- file IO on the pool */

static intptr_t file_io(void *arg)
{
    (void)arg;
    char path[] = "/tmp/tt-backend-XXXXXX";
    int tmp = mkstemp(path);
    ck_assert_int_ge(tmp, 0);
    close(tmp);
    intptr_t fd = tt_openat(AT_FDCWD, path, O_RDWR | O_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(tt_write((int)fd, "0123456789", 10, 0), 10);
    ck_assert_int_eq(tt_fsync((int)fd, 1), 0);
    ck_assert_int_eq(tt_fsync((int)fd, 2), -EINVAL); /* an unknown flag, as the ring says */
    char buf[16] = {0};
    ck_assert_int_eq(tt_read((int)fd, buf, 4, 3), 4);
    ck_assert_str_eq(buf, "3456");
    ck_assert_int_eq(tt_read((int)fd, buf, sizeof buf, -1), 10); /* the position moves */
    ck_assert_int_eq(tt_read((int)fd, buf, sizeof buf, -1), 0);
    ck_assert_int_eq(tt_read((int)fd, buf, 1, -2), -EINVAL);
    ck_assert_int_eq(tt_close((int)fd), 0);
    ck_assert_int_eq(tt_close((int)fd), -EBADF);
    ck_assert_int_eq(tt_openat(AT_FDCWD, "/nonexistent/x", O_RDONLY, 0), -ENOENT);
    intptr_t dir = tt_openat(AT_FDCWD, "/tmp", O_RDONLY | O_DIRECTORY, 0);
    ck_assert_int_ge(dir, 0);
    ck_assert_int_eq(tt_read((int)dir, buf, 1, -1), -EISDIR);
    ck_assert_int_eq(tt_close((int)dir), 0);
    unlink(path);
    return 0;
}

START_TEST(file_calls_give_the_same_outcomes_on_both) { run_on_each(file_io, NULL); }
END_TEST

typedef struct queued_write {
    tu_gate gate;
    tt_pool *pool;
    int fd;
} queued_write;

static intptr_t write_behind_gate(void *arg)
{
    queued_write *q = arg;
    /* The pool's one thread is busy: the write queues behind it. */
    tt_future *g = tt_to_thread(tu_gate_fn, &q->gate);
    ck_assert_ptr_nonnull(g);
    WAIT_FOR(atomic_load(&q->gate.started));
    intptr_t w = tt_write(q->fd, "never", 5, 0);
    ck_assert_int_eq(w, -ECANCELED);
    return tt_await(g); /* the gate's 0 */
}

static intptr_t cancel_queued_file_write(void *arg)
{
    queued_write *q = arg;
    tt_future *t = tt_spawn(write_behind_gate, q);
    WAIT_FOR(atomic_load(&q->gate.started));
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    atomic_store(&q->gate.release, 1);
    ck_assert_int_eq(tt_await(t), 0);
    struct stat st;
    ck_assert_int_eq(fstat(q->fd, &st), 0);
    ck_assert_int_eq(st.st_size, 0); /* the write never ran */
    tt_pool_stats s = tu_pool_stats(q->pool);
    ck_assert_uint_eq(s.cancelled, 1);
    return 0;
}

/* On epoll a file call waits on the pool: cancelled before a thread took it, it never runs. */
START_TEST(a_queued_file_write_cancelled_on_epoll_never_happens)
{
    tt_pool_opts po = {.max_threads = 1};
    queued_write q = {.pool = tt_pool_new(&po)};
    ck_assert_ptr_nonnull(q.pool);
    char path[] = "/tmp/tt-backend-XXXXXX";
    q.fd = mkstemp(path);
    ck_assert_int_ge(q.fd, 0);
    unlink(path);
    ck_assert_int_eq(run_on(TT_BACKEND_EPOLL, q.pool, cancel_queued_file_write, &q), 0);
    close(q.fd);
    ck_assert_int_eq(tt_pool_free(q.pool), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *backend_suite(void)
{
    Suite *s = suite_create("backend");
    TCase *tc = tcase_create("backend");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, the_option_chooses_the_backend);
    tcase_add_test(tc, bad_backend_arguments_are_refused);
    tcase_add_test(tc, tt_backend_environment_variable_decides_auto);
    tcase_add_test(tc, auto_falls_back_to_epoll_and_says_so_once_in_debug_mode);
    tcase_add_test(tc, sub_millisecond_timers_without_epoll_pwait2);
    tcase_add_test(tc, short_send_on_nonblocking_socket);
    tcase_add_test(tc, short_send_on_blocking_socket);
    tcase_add_test(tc, pipe_short_write_and_waiting_read_on_blocking_fds);
    tcase_add_test(tc, cancelled_recv_leaves_the_bytes_for_the_next_reader);
    tcase_add_test(tc, data_already_there_after_a_short_read_is_read_at_once);
    tcase_add_test(tc, the_embedding_fd_wakes_the_host_for_socket_data);
    tcase_add_test(tc, file_calls_give_the_same_outcomes_on_both);
    tcase_add_test(tc, a_queued_file_write_cancelled_on_epoll_never_happens);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(backend_suite)
