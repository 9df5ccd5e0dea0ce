/* Byte streams over any fd: write-all, read-exactly, and a buffered reader with read-until.
 * Built only on the public IO calls (tt_read/tt_recv/tt_write/tt_send/tt_poll), so it runs
 * unchanged on every backend; reads land in the stream's own buffer first, which is what makes
 * every read cancellation-safe. */
#include "internal.h"

#include <poll.h>
#include <sys/stat.h>

#define STREAM_DEFAULT_LIMIT ((size_t)64 * 1024)
#define STREAM_MIN_READ 4096 /* room asked of the kernel per read when the buffer is small */
#define IO_MAX 0x7ffff000      /* the most one read or write moves (Linux's MAX_RW_COUNT) */

struct tt_stream {
    int fd;
    bool is_socket;
    size_t limit;
    char *buf;
    size_t cap;
    size_t start, end; /* buffered bytes are buf[start, end) */
    size_t scanned;    /* read_until: bytes from start already searched for the delimiter */
};

/* -1: not open (errno set); 1 for a socket, 0 for anything else. */
static int fd_is_socket(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    return S_ISSOCK(st.st_mode) ? 1 : 0;
}

/* One read of at most n bytes; an fd in non-blocking mode is waited on with tt_poll. */
static intptr_t fd_read_some(int fd, bool sock, void *buf, size_t n)
{
    n = n > IO_MAX ? IO_MAX : n; /* a ring request's length is 32 bits: never let it wrap */
    for (;;) {
        intptr_t r = sock ? tt_recv(fd, buf, n, 0) : tt_read(fd, buf, n, -1);
        if (r != -EAGAIN && r != -EINTR)
            return r;
        if (r == -EAGAIN) {
            intptr_t p = tt_poll(fd, POLLIN);
            if (p < 0)
                return p;
        }
    }
}

static intptr_t fd_write_some(int fd, bool sock, const void *buf, size_t n)
{
    n = n > IO_MAX ? IO_MAX : n;
    for (;;) {
        intptr_t r = sock ? tt_send(fd, buf, n, MSG_NOSIGNAL) : tt_write(fd, buf, n, -1);
        if (r != -EAGAIN && r != -EINTR)
            return r;
        if (r == -EAGAIN) {
            intptr_t p = tt_poll(fd, POLLOUT);
            if (p < 0)
                return p;
        }
    }
}

static intptr_t write_all(int fd, bool sock, const void *buf, size_t n, size_t *done)
{
    size_t off = 0;
    intptr_t r = 0;
    while (off < n) {
        r = fd_write_some(fd, sock, (const char *)buf + off, n - off);
        if (r < 0)
            break;
        if (r == 0) { /* a write of 0 bytes with bytes left: nothing will ever go */
            r = -EIO;
            break;
        }
        off += (size_t)r;
    }
    if (done)
        *done = off;
    return off == n ? (intptr_t)n : r;
}

intptr_t tt_write_all(int fd, const void *buf, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    if (fd < 0 || (!buf && n))
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    int sock = fd_is_socket(fd);
    if (sock < 0)
        return -errno;
    return write_all(fd, sock, buf, n, done);
}

intptr_t tt_read_exactly(int fd, void *buf, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    if (fd < 0 || (!buf && n))
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    int sock = fd_is_socket(fd);
    if (sock < 0)
        return -errno;
    size_t off = 0;
    intptr_t r = 0;
    while (off < n) {
        r = fd_read_some(fd, sock, (char *)buf + off, n - off);
        if (r <= 0) {
            if (r == 0)
                r = -ENODATA;
            break;
        }
        off += (size_t)r;
    }
    if (done)
        *done = off;
    return off == n ? (intptr_t)n : r;
}

tt_stream *tt_stream_new(int fd, size_t limit)
{
    if (fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    int sock = fd_is_socket(fd);
    if (sock < 0)
        return NULL; /* errno: EBADF */
    tt_stream *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->fd = fd;
    s->is_socket = sock;
    s->limit = limit ? limit : STREAM_DEFAULT_LIMIT;
    return s;
}

void tt_stream_free(tt_stream *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s);
}

int tt_stream_fd(const tt_stream *s) { return s ? s->fd : -EINVAL; }

size_t tt_stream_buffered(const tt_stream *s) { return s ? s->end - s->start : 0; }

/* Makes room for at least want more bytes after end (moving the buffered bytes to the front
 * first, then growing). 0 or -ENOMEM. */
static int stream_reserve(tt_stream *s, size_t want)
{
    if (s->cap - s->end >= want)
        return 0;
    if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->end -= s->start;
        s->start = 0;
        if (s->cap - s->end >= want)
            return 0;
    }
    size_t cap = s->cap ? s->cap : STREAM_MIN_READ;
    while (cap - s->end < want) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *nb = realloc(s->buf, cap);
    if (!nb)
        return -ENOMEM;
    s->buf = nb;
    s->cap = cap;
    return 0;
}

/* Reads once from fd into the buffer: the count (0 at end of file) or a negative code. What the
 * kernel returned is in the buffer before this returns, whatever happens next. */
static intptr_t stream_fill(tt_stream *s, size_t want)
{
    int rc = stream_reserve(s, want < STREAM_MIN_READ ? STREAM_MIN_READ : want);
    if (rc < 0)
        return rc;
    intptr_t r = fd_read_some(s->fd, s->is_socket, s->buf + s->end, s->cap - s->end);
    if (r > 0)
        s->end += (size_t)r;
    return r;
}

static void stream_consume(tt_stream *s, size_t n)
{
    s->start += n;
    s->scanned = s->scanned > n ? s->scanned - n : 0;
    if (s->start == s->end)
        s->start = s->end = s->scanned = 0;
}

intptr_t tt_stream_read(tt_stream *s, void *buf, size_t n)
{
    if (!s || (!buf && n))
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    if (n == 0)
        return 0;
    if (s->end == s->start) {
        /* A large read goes straight to the caller's buffer: nothing to keep in ours. */
        if (n >= STREAM_MIN_READ)
            return fd_read_some(s->fd, s->is_socket, buf, n);
        intptr_t r = stream_fill(s, STREAM_MIN_READ);
        if (r <= 0)
            return r;
    }
    size_t k = s->end - s->start < n ? s->end - s->start : n;
    memcpy(buf, s->buf + s->start, k);
    stream_consume(s, k);
    return (intptr_t)k;
}

intptr_t tt_stream_read_exactly(tt_stream *s, void *buf, size_t n)
{
    if (!s || (!buf && n))
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    if (n == 0)
        return 0;
    while (s->end - s->start < n) {
        intptr_t r = stream_fill(s, n - (s->end - s->start));
        if (r < 0)
            return r;
        if (r == 0)
            return -ENODATA;
    }
    memcpy(buf, s->buf + s->start, n);
    stream_consume(s, n);
    return (intptr_t)n;
}

intptr_t tt_stream_read_until(tt_stream *s, const void *delim, size_t dlen, const char **line)
{
    if (!s || !delim || dlen == 0 || !line)
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    *line = NULL;
    for (;;) {
        size_t have = s->end - s->start;
        /* Search only what was not searched before, backing up dlen - 1 bytes for a delimiter
         * split across two reads. */
        size_t from = s->scanned >= dlen - 1 ? s->scanned - (dlen - 1) : 0;
        if (have >= dlen && from < have) {
            const char *hit = memmem(s->buf + s->start + from, have - from, delim, dlen);
            if (hit) {
                size_t len = (size_t)(hit - (s->buf + s->start)) + dlen;
                if (len > s->limit)
                    return -EMSGSIZE;
                *line = s->buf + s->start;
                stream_consume(s, len);
                return (intptr_t)len;
            }
        }
        s->scanned = have;
        if (have >= s->limit)
            return -EMSGSIZE;
        intptr_t r = stream_fill(s, STREAM_MIN_READ);
        if (r < 0)
            return r;
        if (r == 0)
            return have ? -ENODATA : 0;
    }
}

intptr_t tt_stream_readline(tt_stream *s, const char **line)
{
    return tt_stream_read_until(s, "\n", 1, line);
}

intptr_t tt_stream_write_all(tt_stream *s, const void *buf, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    if (!s || (!buf && n))
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    return write_all(s->fd, s->is_socket, buf, n, done);
}
