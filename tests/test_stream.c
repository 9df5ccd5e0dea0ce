/* Byte streams: write-all and read-exactly over socket pairs with small buffers (so every
 * transfer is partial) and over pipes (blocking and non-blocking); the buffered reader's
 * read-until with exact lines, a delimiter split across reads, end of file mid-line, a 1 MiB
 * line over the limit; and cancellation and timeouts at every step losing no byte. */
#define _GNU_SOURCE
#include "tkutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024 * 1024)

typedef struct writer {
    int fd;
    const void *buf;
    size_t n;
    size_t done;
} writer;

static intptr_t writer_run(void *arg)
{
    writer *w = arg;
    return tt_write_all(w->fd, w->buf, w->n, &w->done);
}

static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = tk_pattern(i);
    return p;
}

/* 1 MiB through a 4 KiB socket buffer: many partial writes and reads, every byte exact. */
TASK_TEST(write_all_read_exactly_one_mebibyte_through_small_buffers)
{
    int sv[2];
    tk_socketpair(sv, 4096);
    unsigned char *src = pattern(MIB), *dst = calloc(1, MIB);
    writer w = {.fd = sv[0], .buf = src, .n = MIB};
    tt_future *wf = tt_spawn(writer_run, &w);
    size_t done = 0;
    ck_assert_int_eq(tt_read_exactly(sv[1], dst, MIB, &done), MIB);
    ck_assert_uint_eq(done, MIB);
    ck_assert_int_eq(tt_await(wf), MIB);
    ck_assert_uint_eq(w.done, MIB);
    ck_assert_int_eq(memcmp(src, dst, MIB), 0);
    free(src);
    free(dst);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

TASK_TEST(read_exactly_reports_end_of_file_and_what_arrived)
{
    int sv[2];
    tk_socketpair(sv, 0);
    ck_assert_int_eq(write(sv[0], "hello", 5), 5);
    close(sv[0]);
    char buf[16] = {0};
    size_t done = 99;
    ck_assert_int_eq(tt_read_exactly(sv[1], buf, 8, &done), -ENODATA);
    ck_assert_uint_eq(done, 5);
    ck_assert_str_eq(buf, "hello");
    ck_assert_int_eq(tt_read_exactly(sv[1], buf, 0, &done), 0);
    close(sv[1]);
    return 0;
}

/* A closed peer is -EPIPE, not a SIGPIPE that kills the process. */
TASK_TEST(write_all_to_a_closed_peer_is_epipe_without_sigpipe)
{
    int sv[2];
    tk_socketpair(sv, 4096);
    close(sv[1]);
    char buf[8192] = {0};
    size_t done = 99;
    ck_assert_int_eq(tt_write_all(sv[0], buf, sizeof buf, &done), -EPIPE);
    ck_assert_uint_eq(done, 0);
    close(sv[0]);
    return 0;
}

/* Pipes take the read/write path; a non-blocking pipe waits with tt_poll on EAGAIN. */
static void pipe_round_trip(int flags)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | flags), 0);
    ck_assert_int_ge(fcntl(p[0], F_SETPIPE_SZ, 4096), 4096);
    size_t n = 256 * 1024;
    unsigned char *src = pattern(n), *dst = calloc(1, n);
    writer w = {.fd = p[1], .buf = src, .n = n};
    tt_future *wf = tt_spawn(writer_run, &w);
    size_t done = 0;
    ck_assert_int_eq(tt_read_exactly(p[0], dst, n, &done), (intptr_t)n);
    ck_assert_int_eq(tt_await(wf), (intptr_t)n);
    ck_assert_int_eq(memcmp(src, dst, n), 0);
    close(p[1]);
    ck_assert_int_eq(tt_read_exactly(p[0], dst, 1, &done), -ENODATA);
    ck_assert_uint_eq(done, 0);
    close(p[0]);
    free(src);
    free(dst);
}

TASK_TEST(pipes_blocking_and_nonblocking)
{
    pipe_round_trip(0);
    pipe_round_trip(O_NONBLOCK);
    return 0;
}

TASK_TEST(readline_exact_lines_then_end_of_file_mid_line)
{
    int sv[2];
    tk_socketpair(sv, 0);
    const char *text = "a\nbb\r\n\nccc";
    ck_assert_int_eq(write(sv[0], text, strlen(text)), (ssize_t)strlen(text));
    close(sv[0]);
    tt_stream *s = tt_stream_new(sv[1], 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(tt_stream_fd(s), sv[1]);
    const char *line;
    ck_assert_int_eq(tt_stream_readline(s, &line), 2);
    ck_assert_int_eq(memcmp(line, "a\n", 2), 0);
    ck_assert_int_eq(tt_stream_readline(s, &line), 4);
    ck_assert_int_eq(memcmp(line, "bb\r\n", 4), 0);
    ck_assert_int_eq(tt_stream_readline(s, &line), 1);
    ck_assert_int_eq(line[0], '\n');
    ck_assert_int_eq(tt_stream_readline(s, &line), -ENODATA); /* "ccc" then end of file */
    ck_assert_uint_eq(tt_stream_buffered(s), 3);
    char rest[8] = {0};
    ck_assert_int_eq(tt_stream_read(s, rest, sizeof rest), 3);
    ck_assert_str_eq(rest, "ccc");
    ck_assert_int_eq(tt_stream_readline(s, &line), 0); /* clean end of file */
    ck_assert_int_eq(tt_stream_read(s, rest, sizeof rest), 0);
    tt_stream_free(s);
    close(sv[1]);
    return 0;
}

typedef struct dribble {
    int fd;
    const char *text;
} dribble;

/* Writes text one byte at a time, yielding between bytes. */
static intptr_t dribble_run(void *arg)
{
    dribble *d = arg;
    for (size_t i = 0; d->text[i]; i++) {
        if (tt_write_all(d->fd, d->text + i, 1, NULL) != 1)
            return -EIO;
        tt_sleep(TT_MS(1));
    }
    return 0;
}

/* A two-byte delimiter arriving split across reads, and a lone '\r' that is not one. */
TASK_TEST(read_until_finds_a_delimiter_split_across_reads)
{
    int sv[2];
    tk_socketpair(sv, 0);
    dribble d = {sv[0], "ab\rc\r\nxyz\r\n"};
    tt_future *df = tt_spawn(dribble_run, &d);
    tt_stream *s = tt_stream_new(sv[1], 0);
    const char *line;
    ck_assert_int_eq(tt_stream_read_until(s, "\r\n", 2, &line), 6);
    ck_assert_int_eq(memcmp(line, "ab\rc\r\n", 6), 0);
    ck_assert_int_eq(tt_stream_read_until(s, "\r\n", 2, &line), 5);
    ck_assert_int_eq(memcmp(line, "xyz\r\n", 5), 0);
    ck_assert_int_eq(tt_await(df), 0);
    tt_stream_free(s);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* 1 MiB without a newline against a 64 KiB limit: -EMSGSIZE, every byte still readable, and
 * the line after it comes out whole. */
TASK_TEST(one_mebibyte_line_over_the_limit_loses_nothing)
{
    int sv[2];
    tk_socketpair(sv, 4096);
    size_t n = MIB + 1 + 3;
    char *src = malloc(n);
    memset(src, 'x', MIB);
    memcpy(src + MIB, "\nok\n", 4);
    writer w = {.fd = sv[0], .buf = src, .n = n};
    tt_future *wf = tt_spawn(writer_run, &w);
    tt_stream *s = tt_stream_new(sv[1], 64 * 1024);
    const char *line;
    ck_assert_int_eq(tt_stream_readline(s, &line), -EMSGSIZE);
    ck_assert_uint_ge(tt_stream_buffered(s), 64 * 1024);
    ck_assert_int_eq(tt_stream_readline(s, &line), -EMSGSIZE); /* still over: nothing lost */
    char *big = malloc(MIB + 1);
    ck_assert_int_eq(tt_stream_read_exactly(s, big, MIB + 1), MIB + 1);
    for (size_t i = 0; i < MIB; i++)
        if (big[i] != 'x')
            ck_abort_msg("byte %zu is %d", i, big[i]);
    ck_assert_int_eq(big[MIB], '\n');
    ck_assert_int_eq(tt_stream_readline(s, &line), 3);
    ck_assert_int_eq(memcmp(line, "ok\n", 3), 0);
    ck_assert_int_eq(tt_await(wf), (intptr_t)n);
    free(big);
    free(src);
    tt_stream_free(s);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static intptr_t readline_run(void *arg)
{
    const char *line;
    intptr_t r = tt_stream_readline(arg, &line);
    if (r == 12 && memcmp(line, "hello world\n", 12) != 0)
        return -EBADMSG;
    return r;
}

/* A reader cancelled after each byte arrives, then started again: the bytes it had taken stay
 * in the stream and the last reader gets the whole line. */
TASK_TEST(readline_cancelled_at_every_byte_loses_none)
{
    int sv[2];
    tk_socketpair(sv, 0);
    tt_stream *s = tt_stream_new(sv[1], 0);
    const char *text = "hello world\n";
    for (size_t i = 0; text[i]; i++) {
        tt_future *r = tt_spawn(readline_run, s);
        ck_assert_int_eq(tt_yield(), 0); /* the reader starts and waits on the socket */
        ck_assert_int_eq(write(sv[0], text + i, 1), 1);
        while (tt_stream_buffered(s) == i && !tt_done(r))
            tt_sleep(TT_US(100)); /* until the reader has taken the byte into the buffer */
        if (text[i] == '\n') {
            ck_assert_int_eq(tt_await(r), 12);
            break;
        }
        ck_assert_uint_eq(tt_stream_buffered(s), i + 1);
        ck_assert_int_eq(tt_cancel(r, NULL), 1);
        ck_assert_int_eq(tt_await(r), -ECANCELED);
        ck_assert_uint_eq(tt_stream_buffered(s), i + 1);
    }
    ck_assert_uint_eq(tt_stream_buffered(s), 0);
    tt_stream_free(s);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* Timeouts around readline and read_exactly: -ETIMEDOUT, the partial data kept. */
TASK_TEST(timeouts_keep_partial_data_buffered)
{
    int sv[2];
    tk_socketpair(sv, 0);
    tt_stream *s = tt_stream_new(sv[1], 0);
    const char *line;
    tt_timeout to;
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(20)), 0);
    ck_assert_int_eq(tt_timeout_exit(&to, tt_stream_readline(s, &line)), -ETIMEDOUT);
    ck_assert_int_eq(write(sv[0], "abc", 3), 3);
    char buf[8] = {0};
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(20)), 0);
    ck_assert_int_eq(tt_timeout_exit(&to, tt_stream_read_exactly(s, buf, 5)), -ETIMEDOUT);
    ck_assert_uint_eq(tt_stream_buffered(s), 3);
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(20)), 0);
    ck_assert_int_eq(tt_timeout_exit(&to, tt_stream_readline(s, &line)), -ETIMEDOUT);
    ck_assert_uint_eq(tt_stream_buffered(s), 3);
    ck_assert_int_eq(write(sv[0], "de\n", 3), 3);
    ck_assert_int_eq(tt_stream_read_exactly(s, buf, 5), 5);
    ck_assert_str_eq(buf, "abcde");
    ck_assert_int_eq(tt_stream_readline(s, &line), 1);
    /* tt_read_exactly on a bare fd: what arrived is in buf and counted in done. */
    ck_assert_int_eq(write(sv[0], "12", 2), 2);
    size_t done = 0;
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(20)), 0);
    ck_assert_int_eq(tt_timeout_exit(&to, tt_read_exactly(sv[1], buf, 4, &done)), -ETIMEDOUT);
    ck_assert_uint_eq(done, 2);
    ck_assert_str_eq(buf, "12");
    tt_stream_free(s);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* A writer cancelled while blocked on a full socket reports what it wrote. */
TASK_TEST(write_all_cancelled_reports_the_bytes_sent)
{
    int sv[2];
    tk_socketpair(sv, 4096);
    size_t n = 512 * 1024;
    unsigned char *src = pattern(n);
    writer w = {.fd = sv[0], .buf = src, .n = n};
    tt_future *wf = tt_spawn(writer_run, &w);
    tt_sleep(TT_MS(10));
    ck_assert_int_eq(tt_cancel(wf, NULL), 1);
    ck_assert_int_eq(tt_await(wf), -ECANCELED);
    ck_assert_uint_gt(w.done, 0);
    ck_assert_uint_lt(w.done, n);
    /* Exactly done bytes are in the socket, in order. */
    shutdown(sv[0], SHUT_WR);
    unsigned char *dst = malloc(n);
    size_t got = 0;
    ck_assert_int_eq(tt_read_exactly(sv[1], dst, n, &got), -ENODATA);
    ck_assert_uint_eq(got, w.done);
    ck_assert_int_eq(memcmp(src, dst, got), 0);
    free(src);
    free(dst);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

TASK_TEST(bad_arguments)
{
    errno = 0;
    ck_assert_ptr_null(tt_stream_new(-1, 0));
    ck_assert_int_eq(errno, EINVAL);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    close(p[1]);
    ck_assert_ptr_null(tt_stream_new(p[0], 0));
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(tt_write_all(-1, "x", 1, NULL), -EINVAL);
    ck_assert_int_eq(tt_write_all(0, NULL, 1, NULL), -EINVAL);
    ck_assert_int_eq(tt_read_exactly(-1, p, 1, NULL), -EINVAL);
    ck_assert_int_eq(tt_write_all(p[0], "x", 1, NULL), -EBADF);
    ck_assert_int_eq(tt_stream_fd(NULL), -EINVAL);
    ck_assert_uint_eq(tt_stream_buffered(NULL), 0);
    const char *line;
    ck_assert_int_eq(tt_stream_read(NULL, p, 1), -EINVAL);
    ck_assert_int_eq(tt_stream_read_exactly(NULL, p, 1), -EINVAL);
    ck_assert_int_eq(tt_stream_read_until(NULL, "\n", 1, &line), -EINVAL);
    ck_assert_int_eq(tt_stream_write_all(NULL, "x", 1, NULL), -EINVAL);
    int sv[2];
    tk_socketpair(sv, 0);
    tt_stream *s = tt_stream_new(sv[0], 0);
    ck_assert_int_eq(tt_stream_read_until(s, "\n", 0, &line), -EINVAL);
    ck_assert_int_eq(tt_stream_read_until(s, NULL, 1, &line), -EINVAL);
    ck_assert_int_eq(tt_stream_read_until(s, "\n", 1, NULL), -EINVAL);
    ck_assert_int_eq(tt_stream_read(s, NULL, 1), -EINVAL);
    ck_assert_int_eq(tt_stream_read(s, NULL, 0), 0); /* nothing asked, nothing read */
    ck_assert_int_eq(tt_stream_read_exactly(s, NULL, 0), 0);
    ck_assert_int_eq(tt_read_exactly(sv[0], NULL, 0, NULL), 0);
    ck_assert_int_eq(tt_write_all(sv[0], NULL, 0, NULL), 0);
    ck_assert_int_eq(tt_stream_write_all(s, "hi", 2, NULL), 2);
    char buf[2];
    ck_assert_int_eq(tt_read_exactly(sv[1], buf, 2, NULL), 2);
    tt_stream_free(s);
    tt_stream_free(NULL);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

START_TEST(outside_a_task_is_eperm)
{
    int sv[2];
    tk_socketpair(sv, 0);
    tt_stream *s = tt_stream_new(sv[0], 0); /* no IO: allowed anywhere */
    ck_assert_ptr_nonnull(s);
    char buf[4];
    const char *line;
    ck_assert_int_eq(tt_write_all(sv[0], "x", 1, NULL), -EPERM);
    ck_assert_int_eq(tt_read_exactly(sv[0], buf, 1, NULL), -EPERM);
    ck_assert_int_eq(tt_stream_read(s, buf, 1), -EPERM);
    ck_assert_int_eq(tt_stream_read_exactly(s, buf, 1), -EPERM);
    ck_assert_int_eq(tt_stream_readline(s, &line), -EPERM);
    ck_assert_int_eq(tt_stream_write_all(s, "x", 1, NULL), -EPERM);
    tt_stream_free(s);
    close(sv[0]);
    close(sv[1]);
    tu_assert_no_leaks();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, write_all_read_exactly_one_mebibyte_through_small_buffers);
    tcase_add_test(tc, read_exactly_reports_end_of_file_and_what_arrived);
    tcase_add_test(tc, write_all_to_a_closed_peer_is_epipe_without_sigpipe);
    tcase_add_test(tc, pipes_blocking_and_nonblocking);
    tcase_add_test(tc, readline_exact_lines_then_end_of_file_mid_line);
    tcase_add_test(tc, read_until_finds_a_delimiter_split_across_reads);
    tcase_add_test(tc, one_mebibyte_line_over_the_limit_loses_nothing);
    tcase_add_test(tc, readline_cancelled_at_every_byte_loses_none);
    tcase_add_test(tc, timeouts_keep_partial_data_buffered);
    tcase_add_test(tc, write_all_cancelled_reports_the_bytes_sent);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, outside_a_task_is_eperm);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
