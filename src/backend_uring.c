/* The io_uring backend: ring setup, SQEs, submit, wait + reap, the cross-thread wake-up's read
 * (backend.c's eventfd, read through the ring) and embedding's eventfd. Completions call their
 * backend_req's function: this file knows no task, job or IO request. */
#include "internal.h"

#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>
#ifdef TT_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

static void event_done(tt_loop *loop, backend_req *r, int res)
{
    (void)r;
    (void)res;
    loop->backend.event_armed = false;
}

const char *uring_refusal(int rc)
{
    switch (rc) {
    case -EPERM:
        return "operation not permitted (kernel.io_uring_disabled or a seccomp profile, e.g. "
               "Docker's default)";
    case -ENOSYS:
        return "the kernel has no io_uring (too old, built without it, or seccomp hides it)";
    case -ENOMEM:
        return "out of locked memory (RLIMIT_MEMLOCK, kernels before 5.12)";
    case -EINVAL:
        return "the kernel refused every ring setup tried (too old)";
    default:
        return strerror(-rc);
    }
}

static int ring_setup(backend *b, unsigned entries, bool quiet)
{
    struct io_uring_params p;
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -ENOSYS;
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        memset(&p, 0, sizeof p);
        p.flags = flag_sets[i];
        rc = io_uring_queue_init_params(entries, &b->ring, &p);
        if (rc == 0)
            return 0;
        if (rc != -EINVAL)
            break; /* refused outright: no point trying weaker flags */
    }
    if (!quiet)
        fprintf(stderr, "tothread: cannot create an io_uring ring: %s\n", uring_refusal(rc));
    return rc;
}

int uring_init(tt_loop *loop, unsigned entries, bool quiet)
{
    backend *b = &loop->backend;
    int rc = ring_setup(b, entries, quiet);
    if (rc < 0)
        return rc;
    b->event_req.complete = event_done;
    return 0;
}

void uring_free(tt_loop *loop) { io_uring_queue_exit(&loop->backend.ring); }

struct io_uring_sqe *backend_sqe(tt_loop *loop)
{
    backend *b = &loop->backend;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
    if (!sqe) {
        io_uring_submit(&b->ring);
        b->sq_pending = 0;
        sqe = io_uring_get_sqe(&b->ring);
    }
    if (sqe)
        b->sq_pending++;
    return sqe;
}

void backend_start(tt_loop *loop, struct io_uring_sqe *sqe, backend_req *r)
{
    io_uring_sqe_set_data(sqe, r);
    loop->backend.io_pending++;
}

bool backend_cancel(tt_loop *loop, backend_req *r)
{
    struct io_uring_sqe *sqe = backend_sqe(loop);
    if (!sqe)
        return false;
    io_uring_prep_cancel(sqe, r, 0);
    io_uring_sqe_set_data(sqe, NULL); /* its own completion counts for nothing: r's does */
    loop->backend.io_pending++;
    return true;
}

void uring_arm_wake(tt_loop *loop)
{
    backend *b = &loop->backend;
    if (b->event_armed)
        return;
    struct io_uring_sqe *sqe = backend_sqe(loop);
    if (!sqe)
        return;
    io_uring_prep_read(sqe, b->event_fd, &b->event_buf, sizeof b->event_buf, 0);
    io_uring_sqe_set_data(sqe, &b->event_req);
    b->event_armed = true;
}

void uring_flush(tt_loop *loop)
{
    if (loop->backend.sq_pending) {
        io_uring_submit(&loop->backend.ring);
        loop->backend.sq_pending = 0;
    }
}

/* Completions signal an eventfd of our own: readable when the loop has something to reap. */
int uring_embed_fd(tt_loop *loop)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    int rc = io_uring_register_eventfd(&loop->backend.ring, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    /* Before anything can complete: producers wake the host through it (backend_wake). */
    atomic_store_explicit(&loop->backend.host_fd, fd, memory_order_release);
    uring_arm_wake(loop);
    io_uring_submit(&loop->backend.ring);
    loop->backend.sq_pending = 0;
    return fd;
}

/* The kernel signals the embedding eventfd only when its list of deferred completions
 * (DEFER_TASKRUN) goes from empty to not empty, and posts them only when this thread enters the
 * ring asking for events. A run that did not enter (nothing of its own in flight: only the
 * wake-up read had completed) left the list not empty, so the next completion, a read the task
 * submitted meanwhile, signalled nothing and the host slept on: every wake-up of the host now
 * empties the list. */
void uring_embed_consume(tt_loop *loop)
{
    uint64_t v;
    (void)!read(loop->backend.embed_fd, &v, sizeof v);
    io_uring_get_events(&loop->backend.ring);
}

void uring_reap(tt_loop *loop)
{
    backend *b = &loop->backend;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&b->ring, head, cqe)
    {
        backend_req *r = io_uring_cqe_get_data(cqe);
        n++;
        if (r != &b->event_req)
            b->io_pending--;
        if (r)
            r->complete(loop, r, cqe->res);
    }
    io_uring_cq_advance(&b->ring, n);
}

void uring_wait(tt_loop *loop, int64_t timeout)
{
    backend *b = &loop->backend;
#ifdef TT_HAVE_VALGRIND_H
    /* Valgrind 3.19 holds its big lock across io_uring_enter, so no worker could run while we
     * wait: under it, wait in short slices. */
    if (TT_UNLIKELY(RUNNING_ON_VALGRIND) && (timeout < 0 || timeout > TT_MS(1)))
        timeout = TT_MS(1);
#endif
    if (timeout == 0) {
        /* With DEFER_TASKRUN completions are posted only when we enter the kernel: do so only
         * when something is in flight on the ring. */
        if (b->sq_pending || b->io_pending) {
            io_uring_submit_and_get_events(&b->ring);
            b->sq_pending = 0;
        }
    } else {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout > 0) {
            int64_t sec;
            long nsec;
            timespec_from_ns(timeout, &sec, &nsec);
            ts.tv_sec = sec;
            ts.tv_nsec = nsec;
            tsp = &ts;
        }
        io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, tsp, NULL);
        b->sq_pending = 0;
    }
}
