/* IO on the ring from inside a task: prepare one SQE tagged with the task, suspend, return
 * cqe->res. A cancelled task sends an async cancel and still waits for the request's own
 * completion, so the kernel has let go of the buffer before the task goes on. */
#include "internal.h"

#include <poll.h>
#ifdef TT_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
/* The kernel fills read buffers behind Valgrind's back: tell it what is now defined. */
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MARK_DEFINED(p, n) ((void)(p), (void)(n))
#endif

static intptr_t io_wait(tt_loop *loop, tt_task *t, struct io_uring_sqe *sqe)
{
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)t | 1u);
    loop->io_pending++;
    io_req io = {0};
    t->io = &io;
    t->wait_kind = WAIT_IO;
    t->state = TS_WAITING;
    task_suspend(t); /* only the request's own completion resumes us, even when cancelled */
    t->wait_kind = WAIT_NONE;
    t->io = NULL;
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
    tt_loop *loop = t->fut.loop;                       \
    struct io_uring_sqe *sqe = loop_get_sqe(loop);     \
    if (!sqe)                                          \
        return -EAGAIN

intptr_t tt_read(int fd, void *buf, size_t n, int64_t off)
{
    if (fd < 0 || (!buf && n))
        return -EINVAL;
    IO_PROLOGUE();
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
    io_uring_prep_write(sqe, fd, buf, (unsigned)(n > 0x7ffff000 ? 0x7ffff000 : n), (uint64_t)off);
    return io_wait(loop, t, sqe);
}

intptr_t tt_recv(int fd, void *buf, size_t n, int flags)
{
    if (fd < 0 || (!buf && n))
        return -EINVAL;
    IO_PROLOGUE();
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
    io_uring_prep_send(sqe, fd, buf, n, flags);
    return io_wait(loop, t, sqe);
}

intptr_t tt_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (fd < 0 || (addr && !len))
        return -EINVAL;
    IO_PROLOGUE();
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
    io_uring_prep_connect(sqe, fd, addr, len);
    return io_wait(loop, t, sqe);
}

intptr_t tt_openat(int dfd, const char *path, int flags, mode_t mode)
{
    if (!path)
        return -EINVAL;
    IO_PROLOGUE();
    io_uring_prep_openat(sqe, dfd, path, flags, mode);
    return io_wait(loop, t, sqe);
}

intptr_t tt_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    IO_PROLOGUE();
    io_uring_prep_close(sqe, fd);
    return io_wait(loop, t, sqe);
}

intptr_t tt_fsync(int fd, unsigned flags)
{
    if (fd < 0)
        return -EBADF;
    IO_PROLOGUE();
    io_uring_prep_fsync(sqe, fd, flags);
    return io_wait(loop, t, sqe);
}

intptr_t tt_poll(int fd, unsigned events)
{
    if (fd < 0)
        return -EINVAL;
    IO_PROLOGUE();
    io_uring_prep_poll_add(sqe, fd, events);
    return io_wait(loop, t, sqe);
}
