/* Unit suite for IO on the ring: file calls on a temporary file, socket calls on a socketpair
 * and a loopback TCP pair, tt_poll, cancellation of a task blocked in tt_recv, and -EPERM
 * outside a task. Every call's result is the kernel's own (a count, an fd, 0 or -errno). */
#define _GNU_SOURCE
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void run_main(tt_fn fn, void *arg)
{
    ck_assert_int_eq(tu_run(fn, arg), 0);
    tu_assert_no_leaks();
}

/* ------------------------------------------------------------------ files */

static intptr_t main_file(void *arg)
{
    (void)arg;
    char path[] = "/tmp/tt-io-XXXXXX";
    int tmp = mkstemp(path);
    ck_assert_int_ge(tmp, 0);
    close(tmp);

    intptr_t fd = tt_openat(AT_FDCWD, path, O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(fcntl((int)fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_eq(tt_write((int)fd, "hello world", 11, 0), 11);
    ck_assert_int_eq(tt_fsync((int)fd, 0), 0);
    char buf[64] = {0};
    ck_assert_int_eq(tt_read((int)fd, buf, sizeof buf, 0), 11);
    ck_assert_str_eq(buf, "hello world");
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(tt_read((int)fd, buf, 5, 6), 5); /* at an offset */
    ck_assert_str_eq(buf, "world");
    ck_assert_int_eq(tt_read((int)fd, buf, sizeof buf, 11), 0); /* end of file */
    /* Offset -1: the file position, which positional calls left at 0; it advances. */
    ck_assert_int_eq(tt_write((int)fd, "HEL", 3, -1), 3);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(tt_read((int)fd, buf, sizeof buf, -1), 8);
    ck_assert_str_eq(buf, "lo world");
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(tt_read((int)fd, buf, sizeof buf, 0), 11);
    ck_assert_str_eq(buf, "HELlo world");
    ck_assert_int_eq(tt_fsync((int)fd, 1 /* IORING_FSYNC_DATASYNC */), 0);
    ck_assert_int_eq(tt_close((int)fd), 0);
    ck_assert_int_eq(tt_close((int)fd), -EBADF);
    ck_assert_int_eq(tt_read((int)fd, buf, 1, 0), -EBADF);
    ck_assert_int_eq(tt_write((int)fd, "x", 1, 0), -EBADF);
    ck_assert_int_eq(tt_fsync((int)fd, 0), -EBADF);

    /* The data really reached the file. */
    int check = open(path, O_RDONLY);
    ck_assert_int_ge(check, 0);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(read(check, buf, sizeof buf), 11);
    ck_assert_str_eq(buf, "HELlo world");
    close(check);

    ck_assert_int_eq(tt_openat(AT_FDCWD, "/nonexistent/dir/file", O_RDONLY, 0), -ENOENT);
    ck_assert_int_eq(tt_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL, 0600), -EEXIST);
    unlink(path);
    return 0;
}

START_TEST(file_read_write_fsync_close) { run_main(main_file, NULL); }
END_TEST

static intptr_t main_big_file(void *arg)
{
    (void)arg;
    char path[] = "/tmp/tt-io-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    size_t n = 1 << 20;
    unsigned char *out = malloc(n), *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(i * 7 + 3);
    size_t done = 0;
    while (done < n) {
        intptr_t w = tt_write(fd, out + done, n - done, (int64_t)done);
        ck_assert_int_gt(w, 0);
        done += (size_t)w;
    }
    done = 0;
    while (done < n) {
        intptr_t r = tt_read(fd, in + done, n - done, (int64_t)done);
        ck_assert_int_gt(r, 0);
        done += (size_t)r;
    }
    ck_assert_int_eq(memcmp(in, out, n), 0);
    free(in);
    free(out);
    ck_assert_int_eq(tt_close(fd), 0);
    return 0;
}

START_TEST(file_one_mebibyte) { run_main(main_big_file, NULL); }
END_TEST

/* ------------------------------------------------------------ socketpair */

typedef struct pair {
    int a, b;
} pair;

static intptr_t delayed_sender(void *arg)
{
    pair *p = arg;
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0);
    return tt_send(p->a, "ping", 4, 0);
}

static intptr_t main_socketpair(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pair p = {sv[0], sv[1]};
    ck_assert_int_eq(tt_send(p.a, "hello", 5, 0), 5);
    char buf[16] = {0};
    ck_assert_int_eq(tt_recv(p.b, buf, sizeof buf, 0), 5);
    ck_assert_str_eq(buf, "hello");
    /* recv suspends until the data arrives. */
    tt_future *s = tt_spawn(delayed_sender, &p);
    int64_t t0 = tt_now();
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(tt_recv(p.b, buf, sizeof buf, 0), 4);
    ck_assert_int_ge(tt_now() - t0, TT_MS(15));
    ck_assert_str_eq(buf, "ping");
    ck_assert_int_eq(tt_await(s), 4);
    /* Flags pass through: MSG_PEEK leaves the data. */
    ck_assert_int_eq(tt_send(p.b, "xy", 2, 0), 2);
    ck_assert_int_eq(tt_recv(p.a, buf, 2, MSG_PEEK), 2);
    ck_assert_int_eq(tt_recv(p.a, buf, 2, MSG_DONTWAIT), 2);
    ck_assert_int_eq(memcmp(buf, "xy", 2), 0);
    /* poll: writable now, readable once there is data. */
    intptr_t ev = tt_poll(p.a, POLLOUT);
    ck_assert_int_gt(ev, 0);
    ck_assert(ev & POLLOUT);
    ck_assert_int_eq(tt_send(p.b, "z", 1, 0), 1);
    ev = tt_poll(p.a, POLLIN);
    ck_assert(ev & POLLIN);
    /* Peer closed: recv returns 0. */
    ck_assert_int_eq(tt_recv(p.a, buf, 1, 0), 1);
    ck_assert_int_eq(tt_close(p.b), 0);
    ck_assert_int_eq(tt_recv(p.a, buf, sizeof buf, 0), 0);
    ck_assert_int_eq(tt_close(p.a), 0);
    ck_assert_int_eq(tt_recv(p.a, buf, 1, 0), -EBADF); /* closed now */
    return 0;
}

START_TEST(socketpair_send_recv_poll) { run_main(main_socketpair, NULL); }
END_TEST

static intptr_t delayed_poke(void *arg)
{
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0);
    return tt_send((int)(intptr_t)arg, "!", 1, 0);
}

static intptr_t main_poll_waits(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    tt_future *s = tt_spawn(delayed_poke, (void *)(intptr_t)sv[0]);
    int64_t t0 = tt_now();
    intptr_t ev = tt_poll(sv[1], POLLIN);
    ck_assert_int_ge(tt_now() - t0, TT_MS(15));
    ck_assert(ev & POLLIN);
    ck_assert_int_eq(tt_await(s), 1);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(poll_waits_for_readiness) { run_main(main_poll_waits, NULL); }
END_TEST

static intptr_t sender_big(void *arg)
{
    pair *p = arg;
    size_t n = 1 << 20, done = 0;
    unsigned char *out = malloc(n);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(i % 251);
    while (done < n) {
        intptr_t w = tt_send(p->a, out + done, n - done, 0);
        ck_assert_int_gt(w, 0);
        done += (size_t)w;
    }
    free(out);
    shutdown(p->a, SHUT_WR);
    return (intptr_t)done;
}

static intptr_t main_stream(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pair p = {sv[0], sv[1]};
    tt_future *s = tt_spawn(sender_big, &p);
    size_t got = 0;
    int bad = 0;
    unsigned char buf[8192];
    for (;;) {
        intptr_t r = tt_recv(p.b, buf, sizeof buf, 0);
        ck_assert_int_ge(r, 0);
        if (r == 0)
            break;
        for (intptr_t i = 0; i < r; i++)
            bad |= buf[i] != (unsigned char)((got + (size_t)i) % 251);
        got += (size_t)r;
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_eq(got, 1 << 20);
    ck_assert_int_eq(tt_await(s), 1 << 20);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(stream_one_mebibyte_between_tasks) { run_main(main_stream, NULL); }
END_TEST

/* ------------------------------------------------------------------- TCP */

static int listener(struct sockaddr_in *addr)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(l, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(l, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)addr, &len), 0);
    ck_assert_int_eq(listen(l, 8), 0);
    return l;
}

typedef struct server {
    int lfd;
    struct sockaddr_in peer;
    socklen_t peer_len;
    int cloexec;
} server;

/* Accepts one connection and echoes what it reads, upper-cased, until EOF. */
static intptr_t echo_server(void *arg)
{
    server *s = arg;
    s->peer_len = sizeof s->peer;
    intptr_t c = tt_accept(s->lfd, (struct sockaddr *)&s->peer, &s->peer_len, SOCK_CLOEXEC);
    ck_assert_int_ge(c, 0);
    s->cloexec = (fcntl((int)c, F_GETFD) & FD_CLOEXEC) != 0;
    char buf[256];
    intptr_t total = 0;
    for (;;) {
        intptr_t r = tt_recv((int)c, buf, sizeof buf, 0);
        ck_assert_int_ge(r, 0);
        if (r == 0)
            break;
        for (intptr_t i = 0; i < r; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z')
                buf[i] = (char)(buf[i] - 'a' + 'A');
        ck_assert_int_eq(tt_send((int)c, buf, (size_t)r, MSG_NOSIGNAL), r);
        total += r;
    }
    ck_assert_int_eq(tt_close((int)c), 0);
    return total;
}

static intptr_t main_tcp(void *arg)
{
    (void)arg;
    server s = {0};
    struct sockaddr_in addr;
    s.lfd = listener(&addr);
    tt_future *srv = tt_spawn(echo_server, &s);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(tt_connect(c, (struct sockaddr *)&addr, sizeof addr), 0);
    const char *msgs[] = {"hello", "tothread", "x"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(msgs[i]);
        ck_assert_int_eq(tt_send(c, msgs[i], n, 0), (intptr_t)n);
        char buf[32] = {0};
        size_t got = 0;
        while (got < n) {
            intptr_t r = tt_recv(c, buf + got, n - got, 0);
            ck_assert_int_gt(r, 0);
            got += (size_t)r;
        }
        for (size_t k = 0; k < n; k++)
            ck_assert_int_eq(buf[k], msgs[i][k] - 'a' + 'A');
    }
    shutdown(c, SHUT_WR);
    ck_assert_int_eq(tt_await(srv), 5 + 8 + 1);
    ck_assert_int_eq(s.peer.sin_family, AF_INET);
    ck_assert_uint_eq(s.peer_len, sizeof(struct sockaddr_in));
    ck_assert_uint_eq(ntohl(s.peer.sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_int_eq(s.cloexec, 1);
    char b;
    ck_assert_int_eq(tt_recv(c, &b, 1, 0), 0); /* server closed */
    ck_assert_int_eq(tt_close(c), 0);

    /* Connecting to a closed port: the kernel's refusal. */
    ck_assert_int_eq(close(s.lfd), 0);
    int c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(tt_connect(c2, (struct sockaddr *)&addr, sizeof addr), -ECONNREFUSED);
    close(c2);
    ck_assert_int_eq(tt_accept(s.lfd, NULL, NULL, 0), -EBADF); /* closed above */
    return 0;
}

START_TEST(tcp_loopback_accept_connect_echo) { run_main(main_tcp, NULL); }
END_TEST

/* -------------------------------------------------------------- cancel */

typedef struct blocked {
    int fd;
    intptr_t rc;
    int64_t returned_at;
} blocked;

static intptr_t blocked_recv(void *arg)
{
    blocked *b = arg;
    char buf[16];
    b->rc = tt_recv(b->fd, buf, sizeof buf, 0);
    b->returned_at = tt_now();
    return b->rc;
}

static intptr_t main_cancel_recv(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    blocked b = {.fd = sv[1], .rc = 1};
    tt_future *t = tt_spawn(blocked_recv, &b);
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0);
    ck_assert_int_eq(tt_done(t), 0); /* blocked: nothing to read */
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_await(tt_ref(t)), -ECANCELED);
    ck_assert_int_lt(tt_now() - t0, TT_MS(500)); /* promptly */
    ck_assert_int_eq(b.rc, -ECANCELED);
    ck_assert_int_eq(tt_cancelled(t), 1);
    tt_unref(t);
    /* The socket is still fine and nothing stale is pending on it. */
    ck_assert_int_eq(tt_send(sv[0], "ok", 2, 0), 2);
    char buf[4] = {0};
    ck_assert_int_eq(tt_recv(sv[1], buf, sizeof buf, 0), 2);
    ck_assert_str_eq(buf, "ok");

    /* Cancelled right after it started waiting (one loop turn). */
    blocked b2 = {.fd = sv[0], .rc = 1};
    tt_future *q = tt_spawn(blocked_recv, &b2);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_cancel(q, NULL), 1);
    ck_assert_int_eq(tt_await(q), -ECANCELED);
    ck_assert_int_eq(b2.rc, -ECANCELED);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_blocked_recv_is_prompt) { run_main(main_cancel_recv, NULL); }
END_TEST

static intptr_t blocked_poll(void *arg)
{
    return tt_poll((int)(intptr_t)arg, POLLIN);
}

static intptr_t blocked_accept(void *arg)
{
    return tt_accept((int)(intptr_t)arg, NULL, NULL, 0);
}

static intptr_t main_cancel_others(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct sockaddr_in addr;
    int l = listener(&addr);
    tt_future *p = tt_spawn(blocked_poll, (void *)(intptr_t)sv[1]);
    tt_future *a = tt_spawn(blocked_accept, (void *)(intptr_t)l);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_cancel(p, NULL), 1);
    ck_assert_int_eq(tt_cancel(a, NULL), 1);
    ck_assert_int_eq(tt_await(p), -ECANCELED);
    ck_assert_int_eq(tt_await(a), -ECANCELED);
    ck_assert_int_lt(tt_now() - t0, TT_MS(500));
    close(l);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(cancel_blocked_poll_and_accept) { run_main(main_cancel_others, NULL); }
END_TEST

/* --------------------------------------------------------- outside a task */

/* Every call refuses to run outside a task, and does not touch the fds it was given. */
static void check_all_eperm(void)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char buf[4] = "abc";
    ck_assert_int_eq(write(sv[1], "q", 1), 1);
    ck_assert_int_eq(tt_read(sv[0], buf, 1, -1), -EPERM);
    ck_assert_int_eq(tt_write(sv[0], buf, 1, -1), -EPERM);
    ck_assert_int_eq(tt_recv(sv[0], buf, 1, 0), -EPERM);
    ck_assert_int_eq(tt_send(sv[0], buf, 1, 0), -EPERM);
    ck_assert_int_eq(tt_accept(sv[0], NULL, NULL, 0), -EPERM);
    struct sockaddr_in a = {.sin_family = AF_INET};
    ck_assert_int_eq(tt_connect(sv[0], (struct sockaddr *)&a, sizeof a), -EPERM);
    ck_assert_int_eq(tt_openat(AT_FDCWD, "/tmp", O_RDONLY, 0), -EPERM);
    ck_assert_int_eq(tt_close(sv[0]), -EPERM);
    ck_assert_int_eq(tt_fsync(sv[0], 0), -EPERM);
    ck_assert_int_eq(tt_poll(sv[0], POLLIN), -EPERM);
    /* Nothing was read, written or closed. */
    ck_assert_int_eq(read(sv[0], buf, sizeof buf), 1);
    ck_assert_int_eq(buf[0], 'q');
    ck_assert_int_eq(fcntl(sv[0], F_GETFD) >= 0, 1);
    close(sv[0]);
    close(sv[1]);
}

START_TEST(io_outside_task_is_eperm)
{
    check_all_eperm(); /* no loop at all */
    tt_loop *loop = tt_loop_new(NULL);
    check_all_eperm(); /* a loop, but not inside a task */
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, file_read_write_fsync_close);
    tcase_add_test(tc, file_one_mebibyte);
    tcase_add_test(tc, socketpair_send_recv_poll);
    tcase_add_test(tc, poll_waits_for_readiness);
    tcase_add_test(tc, stream_one_mebibyte_between_tasks);
    tcase_add_test(tc, tcp_loopback_accept_connect_echo);
    tcase_add_test(tc, cancel_blocked_recv_is_prompt);
    tcase_add_test(tc, cancel_blocked_poll_and_accept);
    tcase_add_test(tc, io_outside_task_is_eperm);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(io_suite)
