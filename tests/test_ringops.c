/* The server's extra ring operations: readv/writev on a file, sendmsg/recvmsg carrying data and
 * an fd (SCM_RIGHTS), statx, shutdown; cancellation of a blocked recvmsg; bad arguments. */
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
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, outside_a_task_is_eperm);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
