/* The backend seam: which kernel interface a loop gets (TT_BACKEND, tt_loop_opts.backend, AUTO's
 * fallback from io_uring to epoll and its one debug-mode note), tt_loop_backend, the cross-thread
 * wake-up eventfd both backends wait on, and embedding's pollable fd. */
#include "internal.h"

#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

static const char *errno_name(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case EMFILE: return "EMFILE";
    default: return "an error";
    }
}

/* AUTO's fallback, once per process in debug mode: the reason is the same for every loop. */
static void note_fallback(tt_loop *loop, int rc)
{
    static atomic_bool told;
    if (atomic_exchange(&told, true))
        return;
    debug_warn(loop, "io_uring_setup failed with %s (%d): %s; using the epoll backend "
               "(TT_BACKEND=epoll says so without trying io_uring)",
               errno_name(-rc), -rc, uring_refusal(rc));
}

/* TT_BACKEND: the kind it names, TT_BACKEND_AUTO when unset, -1 when it names nothing. */
static int backend_from_env(void)
{
    const char *v = getenv("TT_BACKEND");
    if (!v || !*v || strcmp(v, "auto") == 0)
        return TT_BACKEND_AUTO;
    if (strcmp(v, "uring") == 0 || strcmp(v, "io_uring") == 0)
        return TT_BACKEND_URING;
    if (strcmp(v, "epoll") == 0)
        return TT_BACKEND_EPOLL;
    fprintf(stderr, "tothread: TT_BACKEND=%s: expected uring, epoll or auto\n", v);
    return -1;
}

int backend_init(tt_loop *loop, int kind, unsigned entries, bool debug)
{
    backend *b = &loop->backend;
    b->embed_fd = -1;
    atomic_init(&b->host_fd, -1);
    if (kind == TT_BACKEND_AUTO && (kind = backend_from_env()) < 0)
        return -EINVAL;
    b->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->event_fd < 0) {
        int e = errno; /* EMFILE/ENFILE: out of descriptors, not of memory */
        fprintf(stderr, "tothread: cannot create the loop's eventfd: %s\n", strerror(e));
        return -e;
    }
    int rc = 0;
    if (kind != TT_BACKEND_EPOLL) {
        b->kind = BACKEND_URING;
        rc = uring_init(loop, entries, kind == TT_BACKEND_AUTO);
        if (rc == 0)
            return 0;
        if (kind == TT_BACKEND_URING)
            goto fail;
        if (debug)
            note_fallback(loop, rc);
    }
    b->kind = BACKEND_EPOLL;
    rc = epoll_init(loop);
    if (rc == 0)
        return 0;
fail:
    close(b->event_fd);
    return rc;
}

void backend_free(tt_loop *loop)
{
    backend *b = &loop->backend;
    if (backend_is_uring(loop)) {
        uring_free(loop);
        if (b->embed_fd >= 0)
            close(b->embed_fd);
    } else {
        epoll_free(loop); /* its epoll fd is the embedding fd */
    }
    close(b->event_fd);
}

void backend_wake(tt_loop *loop)
{
    uint64_t one = 1;
    (void)!write(loop->backend.event_fd, &one, sizeof one);
    /* An embedded io_uring loop's host sleeps on the registered eventfd, which the ring signals
     * for the wake-up read's completion from inside this write's wake-up: that path left a
     * host asleep with the completion queued and the eventfd never signalled (d2_short_staffed_
     * batch_wakes_host, every run). Producers wake the host themselves. */
    int host = atomic_load_explicit(&loop->backend.host_fd, memory_order_acquire);
    if (host >= 0)
        (void)!write(host, &one, sizeof one);
}

/* ------------------------------------------------------------------------ embedding */

/* io_uring signals an eventfd of its own at each completion; epoll's fd is pollable itself and
 * watches the wake-up eventfd, so it is handed out as it is. */
int backend_embed_fd(tt_loop *loop)
{
    backend *b = &loop->backend;
    if (b->embed_fd < 0) {
        int fd = backend_is_uring(loop) ? uring_embed_fd(loop) : b->ep_fd;
        if (fd < 0)
            return fd;
        b->embed_fd = fd;
    }
    return b->embed_fd;
}

void backend_embed_consume(tt_loop *loop)
{
    backend *b = &loop->backend;
    uint64_t v;
    if (b->embed_fd < 0)
        return;
    if (backend_is_uring(loop)) {
        uring_embed_consume(loop);
        return;
    }
    /* The epoll fd stays readable while these are: a run that waits on no fd does not reap. */
    (void)!read(b->event_fd, &v, sizeof v);
    if (b->ep_timer_fd >= 0)
        (void)!read(b->ep_timer_fd, &v, sizeof v);
}

void backend_embed_signal(tt_loop *loop)
{
    backend *b = &loop->backend;
    uint64_t one = 1;
    (void)!write(backend_is_uring(loop) ? b->embed_fd : b->event_fd, &one, sizeof one);
}

const char *tt_loop_backend(tt_loop *loop)
{
    if (!loop && !(loop = tls_loop)) {
        errno = EPERM; /* as every call given a NULL loop on a thread without one */
        return NULL;
    }
    if (loop->closed) {
        errno = EINVAL;
        return NULL;
    }
    return backend_is_uring(loop) ? "io_uring" : "epoll";
}
