/* IO requests on the epoll backend (io.c's calls land here when the loop has no ring). Two kinds:
 *   readiness ops (sockets, pipes, ttys, eventfd...): a nonblocking attempt, retried each time the
 *     fd reports readiness (backend_epoll.c's ep_watch). A cancelled wait has made no syscall that
 *     could have moved data, so nothing is consumed or sent that is not reported;
 *   file ops (regular files, block devices, openat, statx, fsync, close of a file): a blocking
 *     call on the loop's default pool, as libuv does; a cancel dequeues a call that has not
 *     started, one that runs is waited for and its result returned.
 * An op that completes at its first attempt still lets the loop take a turn before the task goes
 * on, as a ring completion would: a task streaming from a busy socket cannot starve the others.
 *
 * Adding an op: a readiness op is an io_attempt (the syscall made nonblocking, -errno, -EAGAIN
 * when it would block) passed to ready_op with the events it waits for; a file op is a tt_fn
 * doing the blocking syscall, passed to pool_op. Both take their arguments in an io_args. */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define IO_MAX 0x7ffff000 /* what one read or write transfers at most, as the kernel's own cap */

/* ----------------------------------------------------------------- readiness ops */

/* One task waiting for readiness, in its frame: the backend completes it, or the task's cancel
 * takes it off the fd (nothing was attempted meanwhile, so nothing is lost). */
typedef struct ready_req {
    ep_watch watch;
    task_waiter waiter;
    tt_task *task;
    uint8_t done;
    uint8_t cancelled;
} ready_req;

static void ready_complete(tt_loop *loop, backend_req *r, int res)
{
    (void)loop;
    (void)res; /* the retry finds out what the events mean */
    ready_req *q = TT_CONTAINER_OF(r, ready_req, watch.req);
    q->done = 1;
    task_wake(q->task);
}

static void ready_cancel(tt_loop *loop, task_waiter *w)
{
    ready_req *q = TT_CONTAINER_OF(w, ready_req, waiter);
    if (q->done)
        return;
    epoll_unwatch(loop, &q->watch);
    q->done = q->cancelled = 1;
    task_wake(q->task);
}

static void ready_describe(const task_waiter *w, char *buf, size_t n)
{
    const ready_req *q = TT_CONTAINER_OF(w, ready_req, waiter);
    snprintf(buf, n, "io: fd %d to be %s", q->watch.fd,
             q->watch.events & EPOLLOUT ? "writable" : "readable");
}

/* Suspends until fd reports one of events (or an error or hang-up): 0, -ECANCELED, or epoll's
 * refusal to watch fd. */
static int ready_wait(tt_loop *loop, tt_task *t, int fd, uint32_t events)
{
    ready_req q = {.watch = {.req = {ready_complete}, .fd = fd, .events = events},
                   .waiter = {ready_cancel, ready_describe},
                   .task = t};
    int rc = epoll_watch(loop, &q.watch);
    if (rc < 0)
        return rc;
    task_wait_other(t, &q.waiter, false);
    if (q.cancelled) {
        task_withdraw_cancel(t); /* delivered now */
        return -ECANCELED;
    }
    return 0;
}

typedef intptr_t (*io_attempt)(io_args *a);

/* A completed op's turn: the task resumes after the others that were ready. A cancel arriving
 * now stays pending for the next suspension point (the result is already the task's). */
static void settle(tt_task *t)
{
    task_wake(t);
    task_suspend(t);
}

/* Transfers (hint set) that move less than asked mark the fd drained: the next one waits for
 * epoll first instead of making a call that would say EAGAIN (a request/response server then
 * pays no failed recv per request). Other ops (accept, poll) always try first. */
static intptr_t ready_op(tt_loop *loop, tt_task *t, uint32_t events, io_attempt attempt,
                         io_args *a, bool hint)
{
    intptr_t r = -EAGAIN;
    if (!hint || !epoll_drained(loop, a->fd, events)) {
        r = attempt(a);
        if (r != -EAGAIN) {
            if (hint && r >= 0 && (size_t)r < a->n)
                epoll_set_drained(loop, a->fd, events);
            settle(t);
            return r;
        }
    }
    for (;;) {
        int rc = ready_wait(loop, t, a->fd, events);
        if (rc < 0)
            return rc;
        if ((r = attempt(a)) != -EAGAIN) {
            if (hint && r >= 0 && (size_t)r < a->n)
                epoll_set_drained(loop, a->fd, events);
            return r;
        }
    }
}

static intptr_t sys_result(ssize_t r) { return r < 0 ? -errno : (intptr_t)r; }

/* The user's fd may be blocking. A call with no per-call nonblocking flag runs with O_NONBLOCK
 * set on the file description for its duration only (the user's other calls, and other
 * processes sharing it, see their own mode again right after). */
static intptr_t with_nonblock(io_args *a, io_attempt call)
{
    int fl = fcntl(a->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (fl & O_NONBLOCK)
        return call(a);
    if (fcntl(a->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    intptr_t r = call(a);
    int e = errno;
    fcntl(a->fd, F_SETFL, fl);
    errno = e;
    return r;
}

static intptr_t recv_now(io_args *a)
{
    return sys_result(recv(a->fd, a->buf, a->n, a->flags | MSG_DONTWAIT));
}

static intptr_t send_now(io_args *a)
{
    return sys_result(send(a->fd, a->buf, a->n, a->flags | MSG_DONTWAIT));
}

static intptr_t recvmsg_now(io_args *a)
{
    return sys_result(recvmsg(a->fd, a->msg, a->flags | MSG_DONTWAIT));
}

static intptr_t sendmsg_now(io_args *a)
{
    return sys_result(sendmsg(a->fd, a->msg, a->flags | MSG_DONTWAIT));
}

/* readv/writev on a socket: the vectors in a message, so MSG_DONTWAIT can say "don't block". */
static intptr_t readv_sock(io_args *a)
{
    struct msghdr m = {.msg_iov = (struct iovec *)a->iov, .msg_iovlen = (size_t)a->iovcnt};
    return sys_result(recvmsg(a->fd, &m, MSG_DONTWAIT));
}

static intptr_t writev_sock(io_args *a)
{
    struct msghdr m = {.msg_iov = (struct iovec *)a->iov, .msg_iovlen = (size_t)a->iovcnt};
    return sys_result(sendmsg(a->fd, &m, MSG_DONTWAIT));
}

static intptr_t read_plain(io_args *a) { return sys_result(read(a->fd, a->buf, a->n)); }
static intptr_t write_plain(io_args *a) { return sys_result(write(a->fd, a->buf, a->n)); }

/* Pipes take RWF_NOWAIT (no state touched); files that refuse it (ttys, some character
 * devices, older kernels) get O_NONBLOCK for the call. */
static intptr_t read_now(io_args *a)
{
    struct iovec iov = {a->buf, a->n};
    ssize_t r = preadv2(a->fd, &iov, 1, -1, RWF_NOWAIT);
    if (r < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
        return with_nonblock(a, read_plain);
    return sys_result(r);
}

static intptr_t write_now(io_args *a)
{
    struct iovec iov = {a->buf, a->n};
    ssize_t r = pwritev2(a->fd, &iov, 1, -1, RWF_NOWAIT);
    if (r < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
        return with_nonblock(a, write_plain);
    return sys_result(r);
}

static intptr_t readv_plain(io_args *a) { return sys_result(readv(a->fd, a->iov, a->iovcnt)); }
static intptr_t writev_plain(io_args *a) { return sys_result(writev(a->fd, a->iov, a->iovcnt)); }

/* read_now and write_now with vectors. */
static intptr_t readv_now(io_args *a)
{
    ssize_t r = preadv2(a->fd, a->iov, a->iovcnt, -1, RWF_NOWAIT);
    if (r < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
        return with_nonblock(a, readv_plain);
    return sys_result(r);
}

static intptr_t writev_now(io_args *a)
{
    ssize_t r = pwritev2(a->fd, a->iov, a->iovcnt, -1, RWF_NOWAIT);
    if (r < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
        return with_nonblock(a, writev_plain);
    return sys_result(r);
}

static intptr_t accept_plain(io_args *a)
{
    return sys_result(accept4(a->fd, a->addr, a->lenp, a->flags));
}
static intptr_t accept_now(io_args *a) { return with_nonblock(a, accept_plain); }

static intptr_t connect_plain(io_args *a) { return sys_result(connect(a->fd, a->addr, a->len)); }

static intptr_t poll_now(io_args *a)
{
    struct pollfd p = {.fd = a->fd, .events = (short)a->flags};
    int r = poll(&p, 1, 0);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -EAGAIN;
    return p.revents & POLLNVAL ? -EBADF : p.revents;
}

/* ------------------------------------------------------------------------ file ops */

/* A blocking call on the pool, awaited by the task. Not tt_await: a job that finished before the
 * task's cancel was seen must still hand its result back (bytes read or written), and the cancel
 * then waits for the next suspension point, as on the ring. */
typedef struct pool_req {
    task_waiter waiter;
    tt_task *task;
    tt_future *job;
    uint8_t done;
    uint8_t cancel_sent;
} pool_req;

static void pool_done(tt_future *f, void *arg)
{
    (void)f;
    pool_req *q = arg;
    q->done = 1;
    task_wake(q->task);
}

static void pool_req_cancel(tt_loop *loop, task_waiter *w)
{
    (void)loop;
    pool_req *q = TT_CONTAINER_OF(w, pool_req, waiter);
    if (!q->done && !q->cancel_sent) {
        q->cancel_sent = 1;
        future_cancel(q->job, NULL); /* queued: never runs; running: its result comes */
    }
}

static void pool_describe(const task_waiter *w, char *buf, size_t n)
{
    const pool_req *q = TT_CONTAINER_OF(w, pool_req, waiter);
    snprintf(buf, n, "io on the pool%s", q->cancel_sent ? " (cancelling)" : "");
}

static intptr_t pool_op(tt_task *t, tt_fn fn, io_args *a)
{
    tt_future *job = tt_to_thread(fn, a);
    if (!job)
        return -errno;
    pool_req q = {.waiter = {pool_req_cancel, pool_describe}, .task = t, .job = job};
    if (future_add_cb(job, pool_done, &q) < 0)
        return tt_await(job); /* no memory for the callback: the plain await */
    task_wait_other(t, &q.waiter, false);
    intptr_t r = tt_result(job);
    tt_unref(job);
    if (q.cancel_sent && r == -ECANCELED) {
        task_withdraw_cancel(t); /* delivered now */
        return -ECANCELED;
    }
    return r;
}

static intptr_t file_read(void *p)
{
    io_args *a = p;
    return sys_result(a->off == -1 ? read(a->fd, a->buf, a->n)
                                   : pread(a->fd, a->buf, a->n, (off_t)a->off));
}

static intptr_t file_write(void *p)
{
    io_args *a = p;
    return sys_result(a->off == -1 ? write(a->fd, a->buf, a->n)
                                   : pwrite(a->fd, a->buf, a->n, (off_t)a->off));
}

static intptr_t file_openat(void *p)
{
    io_args *a = p;
    return sys_result(openat(a->fd, a->path, a->flags, a->mode));
}

static intptr_t file_close(void *p) { return sys_result(close(((io_args *)p)->fd)); }

static intptr_t file_fsync(void *p)
{
    io_args *a = p;
    return sys_result(a->flags ? fdatasync(a->fd) : fsync(a->fd));
}

static intptr_t file_readv(void *p)
{
    io_args *a = p;
    return sys_result(a->off == -1 ? readv(a->fd, a->iov, a->iovcnt)
                                   : preadv(a->fd, a->iov, a->iovcnt, (off_t)a->off));
}

static intptr_t file_writev(void *p)
{
    io_args *a = p;
    return sys_result(a->off == -1 ? writev(a->fd, a->iov, a->iovcnt)
                                   : pwritev(a->fd, a->iov, a->iovcnt, (off_t)a->off));
}

static intptr_t file_statx(void *p)
{
    io_args *a = p;
    return sys_result(statx(a->fd, a->path, a->flags, a->mask, a->stx));
}

/* ------------------------------------------------------------------- the calls */

enum { FD_FILE, FD_SOCKET, FD_STREAM };

/* Where a read, write or close goes: regular files, block devices and directories (always
 * "ready", and epoll refuses them) to the pool; sockets and everything else epoll can watch
 * (pipes, ttys, eventfd, signalfd, timerfd...) by readiness. -errno for a bad fd. */
static int fd_kind(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
        return FD_FILE;
    return S_ISSOCK(st.st_mode) ? FD_SOCKET : FD_STREAM;
}

intptr_t ep_read(tt_loop *loop, tt_task *t, io_args *a)
{
    int k = fd_kind(a->fd);
    if (k < 0)
        return k;
    if (a->n > IO_MAX)
        a->n = IO_MAX;
    if (k == FD_FILE)
        return pool_op(t, file_read, a);
    a->flags = 0;
    return ready_op(loop, t, EPOLLIN, k == FD_SOCKET ? recv_now : read_now, a, true);
}

intptr_t ep_write(tt_loop *loop, tt_task *t, io_args *a)
{
    int k = fd_kind(a->fd);
    if (k < 0)
        return k;
    if (a->n > IO_MAX)
        a->n = IO_MAX;
    if (k == FD_FILE)
        return pool_op(t, file_write, a);
    a->flags = 0;
    return ready_op(loop, t, EPOLLOUT, k == FD_SOCKET ? send_now : write_now, a, true);
}

/* MSG_DONTWAIT from the caller: one attempt, -EAGAIN as the ring gives it. MSG_WAITALL: the
 * ring retries until all n bytes moved; so do we, and a cancel or an error after some bytes
 * moved returns the count (the cancel stays pending), so no byte goes unreported. */
static intptr_t stream_op(tt_loop *loop, tt_task *t, uint32_t events, io_attempt attempt,
                          io_args *a)
{
    if (a->flags & MSG_DONTWAIT) {
        intptr_t r = attempt(a);
        settle(t);
        return r;
    }
    if (!(a->flags & MSG_WAITALL) || a->n == 0)
        return ready_op(loop, t, events, attempt, a, true);
    a->flags &= ~MSG_WAITALL;
    size_t done = 0, n = a->n;
    char *base = a->buf;
    for (;;) {
        a->buf = base + done;
        a->n = n - done;
        intptr_t r = ready_op(loop, t, events, attempt, a, true);
        if (r <= 0) {
            if (done && r == -ECANCELED)
                t->must_cancel = 1;
            return done ? (intptr_t)done : r;
        }
        done += (size_t)r;
        if (done == n)
            return (intptr_t)done;
    }
}

intptr_t ep_recv(tt_loop *loop, tt_task *t, io_args *a)
{
    return stream_op(loop, t, EPOLLIN, recv_now, a);
}

intptr_t ep_send(tt_loop *loop, tt_task *t, io_args *a)
{
    return stream_op(loop, t, EPOLLOUT, send_now, a);
}

intptr_t ep_accept(tt_loop *loop, tt_task *t, io_args *a)
{
    return ready_op(loop, t, EPOLLIN, accept_now, a, false);
}

/* A connect that is in progress completes when the socket turns writable; SO_ERROR tells how. */
intptr_t ep_connect(tt_loop *loop, tt_task *t, io_args *a)
{
    intptr_t r = with_nonblock(a, connect_plain);
    while (r == -EAGAIN) { /* a full backlog (Unix sockets): wait for room and try again */
        int rc = ready_wait(loop, t, a->fd, EPOLLOUT);
        if (rc < 0)
            return rc;
        r = with_nonblock(a, connect_plain);
    }
    if (r != -EINPROGRESS) {
        settle(t);
        return r;
    }
    int rc = ready_wait(loop, t, a->fd, EPOLLOUT);
    if (rc < 0)
        return rc;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

intptr_t ep_poll(tt_loop *loop, tt_task *t, io_args *a)
{
    return ready_op(loop, t, (uint32_t)(unsigned short)a->flags, poll_now, a, false);
}

intptr_t ep_openat(tt_task *t, io_args *a) { return pool_op(t, file_openat, a); }

intptr_t ep_fsync(tt_task *t, io_args *a)
{
    if (a->flags & ~1u) /* IORING_FSYNC_DATASYNC is the only flag, as on the ring */
        return -EINVAL;
    return pool_op(t, file_fsync, a);
}

/* Sockets and pipes close at once; a file's last close may flush (NFS, FUSE): on the pool. */
intptr_t ep_close(tt_loop *loop, tt_task *t, io_args *a)
{
    int k = fd_kind(a->fd);
    if (k < 0)
        return k;
    epoll_forget_fd(loop, a->fd);
    if (k == FD_FILE)
        return pool_op(t, file_close, a);
    intptr_t r = sys_result(close(a->fd));
    settle(t);
    return r;
}

/* The bytes the vectors hold: what a full transfer moves (ready_op's hint). */
static size_t iov_total(const struct iovec *iov, size_t n)
{
    size_t sum = 0;
    for (size_t i = 0; iov && i < n; i++)
        sum += iov[i].iov_len;
    return sum;
}

intptr_t ep_readv(tt_loop *loop, tt_task *t, io_args *a)
{
    int k = fd_kind(a->fd);
    if (k < 0)
        return k;
    if (k == FD_FILE)
        return pool_op(t, file_readv, a);
    a->n = iov_total(a->iov, (size_t)a->iovcnt);
    return ready_op(loop, t, EPOLLIN, k == FD_SOCKET ? readv_sock : readv_now, a, true);
}

intptr_t ep_writev(tt_loop *loop, tt_task *t, io_args *a)
{
    int k = fd_kind(a->fd);
    if (k < 0)
        return k;
    if (k == FD_FILE)
        return pool_op(t, file_writev, a);
    a->n = iov_total(a->iov, (size_t)a->iovcnt);
    return ready_op(loop, t, EPOLLOUT, k == FD_SOCKET ? writev_sock : writev_now, a, true);
}

/* MSG_WAITALL on a stream socket: the ring retries until every byte of msg_iov moved; so do we,
 * with the rest of the vectors (name and control data go with the first call only). A cancel,
 * an error or end of file after some bytes returns their count (a cancel stays pending). A
 * datagram is one call whatever its size, as for the kernel. */
static intptr_t msg_all(tt_loop *loop, tt_task *t, uint32_t events, io_attempt attempt,
                        io_args *a)
{
    struct msghdr *user = a->msg;
    size_t total = a->n;
    a->flags &= ~MSG_WAITALL;
    intptr_t r = ready_op(loop, t, events, attempt, a, true);
    int type;
    socklen_t tlen = sizeof type;
    if (r <= 0 || (size_t)r >= total ||
        getsockopt(a->fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
        (type != SOCK_STREAM && type != SOCK_SEQPACKET))
        return r;
    size_t done = (size_t)r, i = 0, skip = done; /* skip: bytes of user->msg_iov[i] moved */
    struct iovec part;
    struct msghdr rest = {0};
    a->msg = &rest;
    while (done < total) {
        while (skip >= user->msg_iov[i].iov_len)
            skip -= user->msg_iov[i++].iov_len;
        if (skip) { /* the rest of a vector moved in part: that rest alone */
            part = (struct iovec){(char *)user->msg_iov[i].iov_base + skip,
                                  user->msg_iov[i].iov_len - skip};
            rest.msg_iov = &part;
            rest.msg_iovlen = 1;
        } else {
            rest.msg_iov = user->msg_iov + i;
            rest.msg_iovlen = user->msg_iovlen - i;
        }
        a->n = iov_total(rest.msg_iov, rest.msg_iovlen);
        r = ready_op(loop, t, events, attempt, a, true);
        if (r <= 0) {
            if (r == -ECANCELED)
                t->must_cancel = 1;
            break;
        }
        done += (size_t)r;
        skip += (size_t)r;
    }
    a->msg = user;
    return (intptr_t)done;
}

/* MSG_DONTWAIT from the caller: one attempt, as stream_op. */
static intptr_t msg_op(tt_loop *loop, tt_task *t, uint32_t events, io_attempt attempt,
                       io_args *a)
{
    a->n = iov_total(a->msg->msg_iov, a->msg->msg_iovlen);
    if (a->flags & MSG_DONTWAIT) {
        intptr_t r = attempt(a);
        settle(t);
        return r;
    }
    if ((a->flags & MSG_WAITALL) && a->n)
        return msg_all(loop, t, events, attempt, a);
    return ready_op(loop, t, events, attempt, a, true);
}

intptr_t ep_recvmsg(tt_loop *loop, tt_task *t, io_args *a)
{
    return msg_op(loop, t, EPOLLIN, recvmsg_now, a);
}

intptr_t ep_sendmsg(tt_loop *loop, tt_task *t, io_args *a)
{
    return msg_op(loop, t, EPOLLOUT, sendmsg_now, a);
}

intptr_t ep_statx(tt_task *t, io_args *a) { return pool_op(t, file_statx, a); }

/* Never blocks: at once, with the loop's turn a ring completion would give. */
intptr_t ep_shutdown(tt_task *t, io_args *a)
{
    intptr_t r = sys_result(shutdown(a->fd, a->flags));
    settle(t);
    return r;
}
