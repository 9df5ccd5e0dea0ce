/* IO from inside a task, and the owner of IO requests. On io_uring: prepare one SQE for a
 * request in the task's frame, suspend, return cqe->res; a cancelled task sends an async cancel
 * and still waits for the request's own completion, so the kernel has let go of the buffer
 * before the task goes on. On epoll each call hands its arguments to io_epoll.c (readiness ops
 * and file ops on the pool), with the same outcomes. */
#include "internal.h"

#include <stdio.h>
#include <poll.h>
#ifdef TT_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
/* The kernel fills read buffers behind Valgrind's back: tell it what is now defined. */
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MARK_DEFINED(p, n) ((void)(p), (void)(n))
#endif

/* One IO request, in the waiting task's frame: the backend completes it, the task's cancel asks
 * the backend to cancel it, and only its own completion resumes the task. */
typedef struct io_req {
    backend_req req;
    task_waiter waiter;
    tt_task *task;
    intptr_t res;
    uint8_t done;
    uint8_t cancel_sent;
} io_req;

static void io_complete(tt_loop *loop, backend_req *r, int res)
{
    (void)loop;
    io_req *io = TT_CONTAINER_OF(r, io_req, req);
    io->res = res;
    io->done = 1;
    task_wake(io->task);
}

static void io_cancel(tt_loop *loop, task_waiter *w)
{
    io_req *io = TT_CONTAINER_OF(w, io_req, waiter);
    if (!io->done && !io->cancel_sent && backend_cancel(loop, &io->req))
        io->cancel_sent = 1;
}

static void io_describe(const task_waiter *w, char *buf, size_t n)
{
    const io_req *io = TT_CONTAINER_OF(w, io_req, waiter);
    snprintf(buf, n, "io on the ring%s", io->cancel_sent ? " (cancelling)" : "");
}

static intptr_t io_wait(tt_loop *loop, tt_task *t, struct io_uring_sqe *sqe)
{
    io_req io = {.req = {io_complete}, .waiter = {io_cancel, io_describe}, .task = t};
    backend_start(loop, sqe, &io.req);
    /* Only the request's own completion resumes us, even when cancelled. */
    task_wait_other(t, &io.waiter, false);
    intptr_t r = io.res;
    if (io.cancel_sent && (r == -ECANCELED || r == -EINTR)) {
        task_withdraw_cancel(t); /* delivered now */
        return -ECANCELED;
    }
    return r; /* if it completed before the cancel took, the request is delivered next time */
}

/* Every IO call starts here: a task, and no cancellation already waiting to be delivered. */
#define IO_PROLOGUE()                                  \
    tt_task *t = task_current();                       \
    if (!t)                                            \
        return -EPERM;                                 \
    if (t->must_cancel)                                \
        return tt_yield();                             \
    tt_loop *loop = t->fut.loop

/* The ring's case; the epoll backend's goes to io_epoll.c with the call's arguments first. */
#define IO_SQE()                                       \
    struct io_uring_sqe *sqe = backend_sqe(loop);      \
    if (!sqe)                                          \
        return -EAGAIN

intptr_t tt_read(int fd, void *buf, size_t n, int64_t off)
{
    if (fd < 0 || (!buf && n))
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_read(loop, t, &(io_args){.fd = fd, .buf = buf, .n = n, .off = off});
    IO_SQE();
    io_uring_prep_read(sqe, fd, buf, (unsigned)(n > 0x7ffff000 ? 0x7ffff000 : n), (uint64_t)off);
    intptr_t r = io_wait(loop, t, sqe);
    if (r > 0)
        MARK_DEFINED(buf, (size_t)r);
    return r;
}

intptr_t tt_write(int fd, const void *buf, size_t n, int64_t off)
{
    if (fd < 0 || (!buf && n))
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_write(loop, t, &(io_args){.fd = fd, .buf = (void *)buf, .n = n, .off = off});
    IO_SQE();
    io_uring_prep_write(sqe, fd, buf, (unsigned)(n > 0x7ffff000 ? 0x7ffff000 : n), (uint64_t)off);
    return io_wait(loop, t, sqe);
}

intptr_t tt_recv(int fd, void *buf, size_t n, int flags)
{
    if (fd < 0 || (!buf && n))
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_recv(loop, t, &(io_args){.fd = fd, .buf = buf, .n = n, .flags = flags});
    IO_SQE();
    io_uring_prep_recv(sqe, fd, buf, n, flags);
    intptr_t r = io_wait(loop, t, sqe);
    if (r > 0)
        MARK_DEFINED(buf, (size_t)r);
    return r;
}

intptr_t tt_send(int fd, const void *buf, size_t n, int flags)
{
    if (fd < 0 || (!buf && n))
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_send(loop, t, &(io_args){.fd = fd, .buf = (void *)buf, .n = n, .flags = flags});
    IO_SQE();
    io_uring_prep_send(sqe, fd, buf, n, flags);
    return io_wait(loop, t, sqe);
}

intptr_t tt_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (fd < 0 || (addr && !len))
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_accept(loop, t, &(io_args){.fd = fd, .addr = addr, .lenp = len, .flags = flags});
    IO_SQE();
    io_uring_prep_accept(sqe, fd, addr, len, flags);
    intptr_t r = io_wait(loop, t, sqe);
    if (r >= 0 && addr) {
        MARK_DEFINED(len, sizeof *len);
        MARK_DEFINED(addr, *len);
    }
    return r;
}

intptr_t tt_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (fd < 0 || !addr)
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_connect(loop, t,
                          &(io_args){.fd = fd, .addr = (struct sockaddr *)addr, .len = len});
    IO_SQE();
    io_uring_prep_connect(sqe, fd, addr, len);
    return io_wait(loop, t, sqe);
}

intptr_t tt_openat(int dfd, const char *path, int flags, mode_t mode)
{
    if (!path)
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_openat(t, &(io_args){.fd = dfd, .path = path, .flags = flags, .mode = mode});
    IO_SQE();
    io_uring_prep_openat(sqe, dfd, path, flags, mode);
    return io_wait(loop, t, sqe);
}

intptr_t tt_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_close(loop, t, &(io_args){.fd = fd});
    IO_SQE();
    io_uring_prep_close(sqe, fd);
    return io_wait(loop, t, sqe);
}

intptr_t tt_fsync(int fd, unsigned flags)
{
    if (fd < 0)
        return -EBADF;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_fsync(t, &(io_args){.fd = fd, .flags = (int)flags});
    IO_SQE();
    io_uring_prep_fsync(sqe, fd, flags);
    return io_wait(loop, t, sqe);
}

intptr_t tt_poll(int fd, unsigned events)
{
    if (fd < 0)
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_poll(loop, t, &(io_args){.fd = fd, .flags = (int)events});
    IO_SQE();
    io_uring_prep_poll_add(sqe, fd, events);
    return io_wait(loop, t, sqe);
}

/* Vectored and message IO, statx and shutdown: the same shape as the calls above. */
#define IOV_MAX_RING 1024 /* the kernel's UIO_MAXIOV: more is -EINVAL anyway */

/* Only the r bytes the kernel wrote, spread over the vectors in order. */
static void mark_iov_defined(const struct iovec *iov, size_t n, intptr_t r)
{
    size_t left = r > 0 ? (size_t)r : 0;
    for (size_t i = 0; left && i < n; i++) {
        size_t k = left < iov[i].iov_len ? left : iov[i].iov_len;
        MARK_DEFINED(iov[i].iov_base, k);
        left -= k;
    }
}

intptr_t tt_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (fd < 0 || iovcnt < 0 || iovcnt > IOV_MAX_RING || (!iov && iovcnt))
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_readv(loop, t, &(io_args){.fd = fd, .iov = iov, .iovcnt = iovcnt, .off = off});
    IO_SQE();
    io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
    intptr_t r = io_wait(loop, t, sqe);
    mark_iov_defined(iov, (size_t)iovcnt, r);
    return r;
}

intptr_t tt_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (fd < 0 || iovcnt < 0 || iovcnt > IOV_MAX_RING || (!iov && iovcnt))
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_writev(loop, t, &(io_args){.fd = fd, .iov = iov, .iovcnt = iovcnt, .off = off});
    IO_SQE();
    io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
    return io_wait(loop, t, sqe);
}

intptr_t tt_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (fd < 0 || !msg)
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_sendmsg(loop, t,
                          &(io_args){.fd = fd, .msg = (struct msghdr *)msg, .flags = flags});
    IO_SQE();
    io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags);
    return io_wait(loop, t, sqe);
}

intptr_t tt_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (fd < 0 || !msg)
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_recvmsg(loop, t, &(io_args){.fd = fd, .msg = msg, .flags = flags});
    IO_SQE();
    io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags);
    intptr_t r = io_wait(loop, t, sqe);
    if (r >= 0) {
        MARK_DEFINED(msg, sizeof *msg);
        if (msg->msg_name)
            MARK_DEFINED(msg->msg_name, msg->msg_namelen);
        if (msg->msg_control)
            MARK_DEFINED(msg->msg_control, msg->msg_controllen);
        mark_iov_defined(msg->msg_iov, msg->msg_iovlen, r);
    }
    return r;
}

intptr_t tt_statx(int dfd, const char *path, int flags, unsigned mask, struct statx *out)
{
    if (!path || !out)
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_statx(t, &(io_args){.fd = dfd, .path = path, .flags = flags, .mask = mask,
                                      .stx = out});
    IO_SQE();
    io_uring_prep_statx(sqe, dfd, path, flags, mask, out);
    intptr_t r = io_wait(loop, t, sqe);
    if (r == 0)
        MARK_DEFINED(out, sizeof *out);
    return r;
}

intptr_t tt_shutdown(int fd, int how)
{
    if (fd < 0)
        return -EBADF;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    IO_PROLOGUE();
    if (!backend_is_uring(loop))
        return ep_shutdown(t, &(io_args){.fd = fd, .flags = how});
    IO_SQE();
    io_uring_prep_shutdown(sqe, fd, how);
    return io_wait(loop, t, sqe);
}
