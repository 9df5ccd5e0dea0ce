/* The epoll backend, for where io_uring is refused: one epoll fd watching the wake-up eventfd and,
 * one-shot, the fds tasks wait on (several waiters of one fd share its registration), timeouts
 * with nanosecond precision (epoll_pwait2, else a timerfd), and the reap that hands each waiter
 * the events it was waiting for. What a waiter does then (retry its nonblocking call) is io.c's. */
#include "internal.h"

#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define EP_BATCH 256
/* epoll_event.data of the two fds that are not waited on by tasks. */
#define TAG_WAKE UINT64_MAX
#define TAG_TIMER (UINT64_MAX - 1)

static int pwait2(int epfd, struct epoll_event *ev, int n, const struct timespec *ts)
{
#ifdef SYS_epoll_pwait2
    return (int)syscall(SYS_epoll_pwait2, epfd, ev, n, ts, NULL, 0);
#else
    (void)epfd, (void)ev, (void)n, (void)ts;
    errno = ENOSYS;
    return -1;
#endif
}

int epoll_init(tt_loop *loop)
{
    backend *b = &loop->backend;
    b->ep_timer_fd = -1;
    b->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (b->ep_fd < 0)
        return -errno;
    int rc = -ENOMEM;
    b->ep_events = malloc(EP_BATCH * sizeof *b->ep_events);
    if (!b->ep_events)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    if (epoll_ctl(b->ep_fd, EPOLL_CTL_ADD, b->event_fd, &ev) < 0) {
        rc = -errno;
        goto fail;
    }
    b->event_armed = true; /* for good: backend_arm_wake has nothing to do */
    /* epoll_pwait2 (Linux 5.11) takes a timespec; older kernels, and seccomp profiles that
     * predate it (EPERM), get a timerfd instead, so a 100 us timer does not wait 1 ms. */
    struct timespec zero = {0, 0};
    if (pwait2(b->ep_fd, b->ep_events, 1, &zero) < 0 && (errno == ENOSYS || errno == EPERM)) {
        b->ep_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        ev.data.u64 = TAG_TIMER;
        if (b->ep_timer_fd < 0 || epoll_ctl(b->ep_fd, EPOLL_CTL_ADD, b->ep_timer_fd, &ev) < 0) {
            rc = -errno;
            goto fail;
        }
    }
    return 0;
fail:
    if (b->ep_timer_fd >= 0)
        close(b->ep_timer_fd);
    free(b->ep_events);
    close(b->ep_fd);
    return rc;
}

void epoll_free(tt_loop *loop)
{
    backend *b = &loop->backend;
    close(b->ep_fd);
    if (b->ep_timer_fd >= 0)
        close(b->ep_timer_fd);
    free(b->ep_events);
    free(b->ep_slots);
}

/* ---------------------------------------------------------------------- registrations */

static ep_slot *slot_for(backend *b, int fd)
{
    if ((size_t)fd >= b->ep_nslots) {
        size_t n = b->ep_nslots ? b->ep_nslots : 64;
        while (n <= (size_t)fd)
            n *= 2;
        ep_slot *s = realloc(b->ep_slots, n * sizeof *s);
        if (!s)
            return NULL;
        memset(s + b->ep_nslots, 0, (n - b->ep_nslots) * sizeof *s);
        b->ep_slots = s;
        b->ep_nslots = n;
    }
    return &b->ep_slots[fd];
}

static uint32_t slot_wanted(const ep_slot *s)
{
    uint32_t want = 0;
    for (const ep_watch *w = s->head; w; w = w->next)
        want |= w->events;
    return want;
}

/* One-shot registrations: an fd the user closed and reused behind our back costs at most one
 * spurious wake-up (the waiter retries and waits again), never a lost one: MOD finds no
 * registration for the new file (ENOENT) and ADD makes one. */
static int slot_arm(backend *b, int fd, ep_slot *s, uint32_t want)
{
    struct epoll_event ev = {.events = want | EPOLLONESHOT, .data.u64 = (uint64_t)fd};
    if (epoll_ctl(b->ep_fd, EPOLL_CTL_MOD, fd, &ev) < 0 &&
        (errno != ENOENT || epoll_ctl(b->ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0))
        return -errno;
    s->armed = want;
    return 0;
}

static void slot_unlink(ep_slot *s, ep_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        s->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        s->tail = w->prev;
    w->prev = w->next = NULL;
}

int epoll_watch(tt_loop *loop, ep_watch *w)
{
    backend *b = &loop->backend;
    ep_slot *s = slot_for(b, w->fd);
    if (!s)
        return -ENOMEM;
    /* A first waiter always arms: the slot's memory of an armed registration may be stale (the
     * fd closed and reused while nobody waited). */
    uint32_t want = s->head ? slot_wanted(s) | w->events : w->events;
    if (!s->head || (want & ~s->armed)) {
        int rc = slot_arm(b, w->fd, s, want);
        if (rc < 0)
            return rc;
    }
    w->next = NULL;
    w->prev = s->tail;
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    b->io_pending++;
    return 0;
}

void epoll_unwatch(tt_loop *loop, ep_watch *w)
{
    backend *b = &loop->backend;
    slot_unlink(&b->ep_slots[w->fd], w);
    b->io_pending--;
    /* The registration stays armed: if it fires with nobody waiting, the reap just drops it. */
}

void epoll_forget_fd(tt_loop *loop, int fd)
{
    backend *b = &loop->backend;
    if ((size_t)fd >= b->ep_nslots)
        return;
    if (b->ep_slots[fd].armed) {
        epoll_ctl(b->ep_fd, EPOLL_CTL_DEL, fd, NULL);
        b->ep_slots[fd].armed = 0;
    }
    b->ep_slots[fd].drained = 0;
}

bool epoll_drained(tt_loop *loop, int fd, uint32_t events)
{
    backend *b = &loop->backend;
    return (size_t)fd < b->ep_nslots && (b->ep_slots[fd].drained & events);
}

void epoll_set_drained(tt_loop *loop, int fd, uint32_t events)
{
    ep_slot *s = slot_for(&loop->backend, fd);
    if (s) /* no memory: no hint, the next call just tries */
        s->drained |= events;
}

/* ------------------------------------------------------------------------ wait + reap */

void epoll_wait_for(tt_loop *loop, int64_t timeout)
{
    backend *b = &loop->backend;
    b->ep_nready = 0;
    if (timeout == 0 && b->io_pending == 0)
        return; /* nothing to look at: the inbox is read directly, no fd is waited on */
    int n;
    if (timeout <= 0) {
        n = epoll_wait(b->ep_fd, b->ep_events, EP_BATCH, timeout == 0 ? 0 : -1);
    } else if (b->ep_timer_fd < 0) {
        int64_t sec;
        long nsec;
        timespec_from_ns(timeout, &sec, &nsec);
        struct timespec ts = {.tv_sec = sec, .tv_nsec = nsec};
        n = pwait2(b->ep_fd, b->ep_events, EP_BATCH, &ts);
    } else {
        int64_t sec;
        long nsec;
        timespec_from_ns(timeout, &sec, &nsec);
        struct itimerspec its = {.it_value = {.tv_sec = sec, .tv_nsec = nsec}};
        timerfd_settime(b->ep_timer_fd, 0, &its, NULL);
        n = epoll_wait(b->ep_fd, b->ep_events, EP_BATCH, -1);
    }
    if (n > 0)
        b->ep_nready = n; /* EINTR: nothing this time, the loop comes back */
}

/* Each waiter whose events came (or an error or hang-up, which every call must see) completes;
 * the others keep the fd armed for what they wait on. */
static void fd_ready(tt_loop *loop, int fd, uint32_t revents)
{
    backend *b = &loop->backend;
    if ((size_t)fd >= b->ep_nslots)
        return;
    ep_slot *s = &b->ep_slots[fd];
    s->armed = 0; /* one-shot: it fired */
    s->drained &= revents & (EPOLLERR | EPOLLHUP) ? 0 : ~revents;
    ep_watch *w = s->head;
    while (w) {
        ep_watch *next = w->next;
        if (revents & (w->events | EPOLLERR | EPOLLHUP)) {
            slot_unlink(s, w);
            b->io_pending--;
            w->req.complete(loop, &w->req, (int)revents);
        }
        w = next;
    }
    if (s->head)
        slot_arm(b, fd, s, slot_wanted(s)); /* cannot fail for a registration that just fired */
}

void epoll_reap(tt_loop *loop)
{
    backend *b = &loop->backend;
    int n = b->ep_nready;
    b->ep_nready = 0;
    for (int i = 0; i < n; i++) {
        struct epoll_event *e = &b->ep_events[i];
        uint64_t v;
        if (e->data.u64 == TAG_WAKE)
            (void)!read(b->event_fd, &v, sizeof v);
        else if (e->data.u64 == TAG_TIMER)
            (void)!read(b->ep_timer_fd, &v, sizeof v);
        else
            fd_ready(loop, (int)e->data.u64, e->events);
    }
}
