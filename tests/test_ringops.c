/* The server's extra ring operations: readv/writev on a file, a pipe and a socket, sendmsg/recvmsg
 * carrying data and an fd (SCM_RIGHTS) and with MSG_WAITALL/MSG_DONTWAIT, statx, shutdown;
 * cancellation of a blocked recvmsg and readv; bad arguments. Run on both backends by CI. */
#define _GNU_SOURCE
#include "tkutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

TASK_TEST(readv_writev_on_a_file)
{
    char path[] = "/tmp/tt-ringops-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    struct iovec out[3] = {{"abc", 3}, {"", 0}, {"defgh", 5}};
    ck_assert_int_eq(tt_writev(fd, out, 3, 0), 8);
    char a[2], b[10] = {0};
    struct iovec in[2] = {{a, 2}, {b, sizeof b}};
    ck_assert_int_eq(tt_readv(fd, in, 2, 0), 8);
    ck_assert_int_eq(memcmp(a, "ab", 2), 0);
    ck_assert_str_eq(b, "cdefgh");
    ck_assert_int_eq(tt_readv(fd, in, 2, 8), 0); /* end of file */
    ck_assert_int_eq(tt_writev(fd, out, 0, 0), 0);
    struct statx st;
    ck_assert_int_eq(tt_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &st), 0);
    ck_assert_uint_eq(st.stx_size, 8);
    ck_assert_int_eq(tt_statx(AT_FDCWD, "/nonexistent/x", 0, STATX_SIZE, &st), -ENOENT);
    close(fd);
    return 0;
}

TASK_TEST(sendmsg_recvmsg_pass_data_and_an_fd)
{
    int sv[2];
    tk_socketpair(sv, 0);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {"ping", 4};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[1], sizeof(int));
    ck_assert_int_eq(tt_sendmsg(sv[0], &m, MSG_NOSIGNAL), 4);

    char data[8] = {0};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } rctl;
    struct iovec riov = {data, sizeof data};
    struct msghdr r = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rctl.buf,
                       .msg_controllen = sizeof rctl.buf};
    ck_assert_int_eq(tt_recvmsg(sv[1], &r, MSG_CMSG_CLOEXEC), 4);
    ck_assert_str_eq(data, "ping");
    struct cmsghdr *rc = CMSG_FIRSTHDR(&r);
    ck_assert_ptr_nonnull(rc);
    ck_assert_int_eq(rc->cmsg_type, SCM_RIGHTS);
    int passed;
    memcpy(&passed, CMSG_DATA(rc), sizeof passed);
    ck_assert_int_eq(write(passed, "!", 1), 1); /* the passed fd is the pipe's write end */
    char got;
    ck_assert_int_eq(read(p[0], &got, 1), 1);
    ck_assert_int_eq(got, '!');
    close(passed);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

TASK_TEST(shutdown_write_side_gives_the_peer_end_of_file)
{
    int sv[2];
    tk_socketpair(sv, 0);
    ck_assert_int_eq(tt_send(sv[0], "x", 1, 0), 1);
    ck_assert_int_eq(tt_shutdown(sv[0], SHUT_WR), 0);
    char buf[4];
    ck_assert_int_eq(tt_recv(sv[1], buf, sizeof buf, 0), 1);
    ck_assert_int_eq(tt_recv(sv[1], buf, sizeof buf, 0), 0);
    ck_assert_int_eq(tt_send(sv[0], "y", 1, MSG_NOSIGNAL), -EPIPE);
    ck_assert_int_eq(tt_shutdown(sv[0], 7), -EINVAL);
    ck_assert_int_eq(tt_shutdown(-1, SHUT_RD), -EBADF);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(tt_shutdown(p[0], SHUT_RD), -ENOTSOCK);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static intptr_t recvmsg_run(void *arg)
{
    int fd = *(int *)arg;
    char buf[4];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    return tt_recvmsg(fd, &m, 0);
}

TASK_TEST(cancel_a_blocked_recvmsg)
{
    int sv[2];
    tk_socketpair(sv, 0);
    tt_future *f = tt_spawn(recvmsg_run, &sv[1]);
    tt_sleep(TT_MS(5));
    ck_assert_int_eq(tt_cancel(f, NULL), 1);
    ck_assert_int_eq(tt_await(f), -ECANCELED);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* The readiness route on epoll (the ring's own on io_uring): a readv that waits for a pipe's
 * data and one on a socket, each filling its vectors in order. */
typedef struct vec_reader {
    int fd;
    char a[3], b[8];
} vec_reader;

static intptr_t readv_run(void *arg)
{
    vec_reader *v = arg;
    struct iovec in[2] = {{v->a, sizeof v->a}, {v->b, sizeof v->b - 1}};
    return tt_readv(v->fd, in, 2, -1);
}

TASK_TEST(readv_writev_wait_on_a_pipe_and_a_socket)
{
    int p[2], sv[2];
    ck_assert_int_eq(pipe(p), 0);
    tk_socketpair(sv, 0);
    int rd[2] = {p[0], sv[1]}, wr[2] = {p[1], sv[0]};
    for (int i = 0; i < 2; i++) {
        vec_reader v = {.fd = rd[i]};
        tt_future *f = tt_spawn(readv_run, &v);
        tt_sleep(TT_MS(5)); /* the reader waits for data */
        ck_assert_int_eq(tt_done(f), 0);
        struct iovec out[2] = {{"abcd", 4}, {"efg", 3}};
        ck_assert_int_eq(tt_writev(wr[i], out, 2, -1), 7);
        ck_assert_int_eq(tt_await(f), 7);
        ck_assert_int_eq(memcmp(v.a, "abc", 3), 0);
        ck_assert_str_eq(v.b, "defg");
    }
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* A cancelled readv on an empty pipe consumed nothing: the bytes written after are all there. */
TASK_TEST(cancel_a_blocked_readv_loses_no_byte)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    vec_reader v = {.fd = p[0]};
    tt_future *f = tt_spawn(readv_run, &v);
    tt_sleep(TT_MS(5));
    ck_assert_int_eq(tt_cancel(f, NULL), 1);
    ck_assert_int_eq(tt_await(f), -ECANCELED);
    ck_assert_int_eq(write(p[1], "xyz", 3), 3);
    char got[4] = {0};
    ck_assert_int_eq(tt_read(p[0], got, sizeof got, -1), 3);
    ck_assert_str_eq(got, "xyz");
    close(p[0]);
    close(p[1]);
    return 0;
}

static intptr_t recvmsg_all_run(void *arg)
{
    vec_reader *v = arg;
    struct iovec in[2] = {{v->a, sizeof v->a}, {v->b, sizeof v->b - 1}};
    struct msghdr m = {.msg_iov = in, .msg_iovlen = 2};
    return tt_recvmsg(v->fd, &m, MSG_WAITALL);
}

/* MSG_WAITALL: the bytes of two sends, the second after a pause, fill all ten bytes; a
 * MSG_DONTWAIT recvmsg on an empty socket says -EAGAIN at once. */
TASK_TEST(recvmsg_waitall_and_dontwait)
{
    int sv[2];
    tk_socketpair(sv, 0);
    char c;
    struct iovec one = {&c, 1};
    struct msghdr m1 = {.msg_iov = &one, .msg_iovlen = 1};
    ck_assert_int_eq(tt_recvmsg(sv[1], &m1, MSG_DONTWAIT), -EAGAIN);
    vec_reader v = {.fd = sv[1]};
    tt_future *f = tt_spawn(recvmsg_all_run, &v);
    ck_assert_int_eq(tt_send(sv[0], "0123", 4, 0), 4);
    tt_sleep(TT_MS(5));
    ck_assert_int_eq(tt_done(f), 0);
    struct iovec rest = {"456789", 6};
    struct msghdr m = {.msg_iov = &rest, .msg_iovlen = 1};
    ck_assert_int_eq(tt_sendmsg(sv[0], &m, 0), 6);
    ck_assert_int_eq(tt_await(f), 10);
    ck_assert_int_eq(memcmp(v.a, "012", 3), 0);
    ck_assert_str_eq(v.b, "3456789");
    close(sv[0]);
    close(sv[1]);
    return 0;
}

TASK_TEST(bad_arguments)
{
    struct iovec iov = {NULL, 0};
    struct msghdr m = {0};
    struct statx st;
    ck_assert_int_eq(tt_readv(-1, &iov, 1, 0), -EINVAL);
    ck_assert_int_eq(tt_readv(0, NULL, 1, 0), -EINVAL);
    ck_assert_int_eq(tt_readv(0, &iov, -1, 0), -EINVAL);
    ck_assert_int_eq(tt_writev(0, &iov, 1025, 0), -EINVAL);
    ck_assert_int_eq(tt_sendmsg(-1, &m, 0), -EINVAL);
    ck_assert_int_eq(tt_sendmsg(0, NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_recvmsg(0, NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_statx(AT_FDCWD, NULL, 0, 0, &st), -EINVAL);
    ck_assert_int_eq(tt_statx(AT_FDCWD, "/", 0, 0, NULL), -EINVAL);
    return 0;
}

START_TEST(outside_a_task_is_eperm)
{
    struct iovec iov = {NULL, 0};
    struct msghdr m = {0};
    struct statx st;
    ck_assert_int_eq(tt_readv(0, &iov, 1, 0), -EPERM);
    ck_assert_int_eq(tt_writev(1, &iov, 1, 0), -EPERM);
    ck_assert_int_eq(tt_sendmsg(0, &m, 0), -EPERM);
    ck_assert_int_eq(tt_recvmsg(0, &m, 0), -EPERM);
    ck_assert_int_eq(tt_statx(AT_FDCWD, "/", 0, 0, &st), -EPERM);
    ck_assert_int_eq(tt_shutdown(0, SHUT_RD), -EPERM);
    tu_assert_no_leaks();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("ringops");
    TCase *tc = tcase_create("ringops");
    tcase_add_test(tc, readv_writev_on_a_file);
    tcase_add_test(tc, sendmsg_recvmsg_pass_data_and_an_fd);
    tcase_add_test(tc, shutdown_write_side_gives_the_peer_end_of_file);
    tcase_add_test(tc, cancel_a_blocked_recvmsg);
    tcase_add_test(tc, readv_writev_wait_on_a_pipe_and_a_socket);
    tcase_add_test(tc, cancel_a_blocked_readv_loses_no_byte);
    tcase_add_test(tc, recvmsg_waitall_and_dontwait);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, outside_a_task_is_eperm);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
