/* The event loop: one io_uring ring per thread, a FIFO ready queue run in turns (asyncio's
 * batches), the user-space timers, and the inbox from other threads. One iteration reads
 * top to bottom: hand batched jobs to pools, wait on the ring (briefly spinning first while
 * jobs are in flight), reap completions, drain the inbox, fire due timers, run one turn. */
#include "internal.h"

#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef TT_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

_Thread_local tt_loop *tls_loop;

enum { TAG_IO = 1, TAG_EVENT = 2, TAG_MASK = 3 };
#define SPIN_NS 50000 /* ~ one cross-CPU wake-up on the reference VM, and never more */
#define SPIN_MAX_INFLIGHT 8

/* ------------------------------------------------------------------ ready queue */

void loop_push_ready(tt_loop *loop, ready_item *it) { ready_list_push(&loop->ready, it); }

struct slab {
    struct slab *next;
    size_t bytes;
    _Alignas(64) char mem[]; /* a 64- or 128-byte object spans exactly one or two cache lines */
};

#define SLAB_MIN (64 * 1024)
#define SLAB_MAX (2 * 1024 * 1024)
static const uint16_t class_size[SIZE_CLASSES] = {48, 64, 128, 192, 256, 384};

unsigned slab_class(size_t size)
{
    unsigned c = 0;
    while (c < SIZE_CLASSES && class_size[c] < size)
        c++;
    return c;
}

/* Slabs grow geometrically per class and are mapped pre-faulted (MAP_POPULATE): the kernel fills
 * a whole slab in one call, much cheaper than a page fault per page, and the objects are about
 * to be used anyway. */
static void *slab_grow(tt_loop *loop, unsigned cls)
{
    size_t bytes = loop->slab_next[cls] ? loop->slab_next[cls] : SLAB_MIN;
    struct slab *s = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (s == MAP_FAILED)
        return NULL;
    if (bytes < SLAB_MAX)
        loop->slab_next[cls] = bytes * 2;
    s->bytes = bytes;
    s->next = loop->slabs;
    loop->slabs = s;
    size_t sz = class_size[cls], n = (bytes - sizeof *s) / sz;
    void *p = NULL;
    /* Thread the objects in address order so consecutive allocations are adjacent. */
    for (size_t i = n; i-- > 0;) {
        void *o = s->mem + i * sz;
        *(void **)o = p;
        p = o;
    }
    return p;
}

void *slab_get(tt_loop *loop, unsigned cls)
{
    void *p = loop->free_objs[cls];
    if (TT_UNLIKELY(!p) && !(p = slab_grow(loop, cls)))
        return NULL;
    loop->free_objs[cls] = *(void **)p;
    return p;
}

void slab_put(tt_loop *loop, unsigned cls, void *p)
{
    *(void **)p = loop->free_objs[cls];
    loop->free_objs[cls] = p;
}

void slab_free_all(tt_loop *loop)
{
    for (struct slab *s = loop->slabs, *next; s; s = next) {
        next = s->next;
        munmap(s, s->bytes);
    }
    loop->slabs = NULL;
    memset(loop->free_objs, 0, sizeof loop->free_objs);
}

cb_node *cb_node_get(tt_loop *loop)
{
    cb_node *n = slab_get(loop, 0);
    if (TT_LIKELY(n))
        n->ri.kind = RK_CALLBACK;
    return n;
}

void cb_node_put(tt_loop *loop, cb_node *n) { slab_put(loop, 0, n); }

/* -------------------------------------------------------------------------- ring */

struct io_uring_sqe *loop_get_sqe(tt_loop *loop)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    if (!sqe) {
        io_uring_submit(&loop->ring);
        loop->sq_pending = 0;
        sqe = io_uring_get_sqe(&loop->ring);
    }
    if (sqe)
        loop->sq_pending++;
    return sqe;
}

static void arm_event_read(tt_loop *loop)
{
    if (loop->event_armed)
        return;
    struct io_uring_sqe *sqe = loop_get_sqe(loop);
    if (!sqe)
        return;
    io_uring_prep_read(sqe, loop->event_fd, &loop->event_buf, sizeof loop->event_buf, 0);
    io_uring_sqe_set_data64(sqe, TAG_EVENT);
    loop->event_armed = true;
}

static int reap(tt_loop *loop)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&loop->ring, head, cqe)
    {
        uint64_t ud = cqe->user_data;
        n++;
        if ((ud & TAG_MASK) != TAG_EVENT)
            loop->io_pending--;
        switch (ud & TAG_MASK) {
        case TAG_IO: {
            tt_task *t = (tt_task *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
            t->io->res = cqe->res;
            t->io->done = 1;
            task_wake(t);
            break;
        }
        case TAG_EVENT:
            loop->event_armed = false;
            break;
        default:
            break; /* cancel requests: the target's own completion is what counts */
        }
    }
    io_uring_cq_advance(&loop->ring, n);
    return (int)n;
}

/* Waits for completions at most timeout ns (0: just looks). */
static void wait_ring(tt_loop *loop, int64_t timeout)
{
    if (timeout != 0 && loop->jobs_inflight > 0 && loop->jobs_inflight <= SPIN_MAX_INFLIGHT) {
        /* A few blocking calls are in flight: a completion most likely lands within
         * microseconds, and putting this thread to sleep would cost a cross-CPU wake-up. With
         * many in flight, completions come in bursts and spinning only takes CPU from them. */
        int64_t until = clock_now() + (timeout > 0 && timeout < SPIN_NS ? timeout : SPIN_NS);
        unsigned i = 0;
        while (inbox_empty(&loop->in) && !io_uring_cq_ready(&loop->ring)) {
            cpu_relax();
            if ((++i & 63) == 0 && clock_now() >= until)
                break;
        }
        if (!inbox_empty(&loop->in) || io_uring_cq_ready(&loop->ring))
            timeout = 0;
    }
    if (timeout != 0) {
        arm_event_read(loop);
        atomic_store(&loop->sleeping, 1);
        if (!inbox_empty(&loop->in)) {
            timeout = 0; /* a producer came in before it could see the flag */
            atomic_store(&loop->sleeping, 0);
        }
    }
#ifdef TT_HAVE_VALGRIND_H
    /* Valgrind 3.19 holds its big lock across io_uring_enter, so no worker could run while we
     * wait: under it, wait in short slices. */
    if (TT_UNLIKELY(RUNNING_ON_VALGRIND) && (timeout < 0 || timeout > TT_MS(1)))
        timeout = TT_MS(1);
#endif
    if (timeout == 0) {
        /* With DEFER_TASKRUN completions are posted only when we enter the kernel: do so only
         * when something is in flight on the ring. */
        if (loop->sq_pending || loop->io_pending) {
            io_uring_submit_and_get_events(&loop->ring);
            loop->sq_pending = 0;
        }
    } else {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout > 0) {
            ts.tv_sec = timeout / 1000000000;
            ts.tv_nsec = timeout % 1000000000;
            tsp = &ts;
        }
        io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, tsp, NULL);
        loop->sq_pending = 0;
        atomic_store(&loop->sleeping, 0);
    }
    reap(loop);
}

/* ---------------------------------------------------------------------- one turn */

static inline void dispatch(tt_loop *loop, ready_item *it)
{
    loop->steps++;
    if (it->kind == RK_TASK) {
        tt_task *t = TT_CONTAINER_OF(it, tt_task, ri);
        if (!task_switch_in(loop, t))
            return;
        loop->current = t;
        ctx_switch(&loop->ctx, &t->ctx);
        loop->current = NULL;
        if (loop->dead)
            task_free_dead(loop);
    } else {
        future_run_cb(loop, (cb_node *)it);
    }
}

static void run_turn(tt_loop *loop)
{
    if (!loop->ready.head)
        return;
    loop->batch_last = TT_CONTAINER_OF(loop->ready.tailp, ready_item, next);
    while (loop->batch_last)
        dispatch(loop, ready_pop(loop));
}

int loop_iterate(tt_loop *loop, int64_t timeout)
{
    uint64_t steps = loop->steps;
    pool_flush(loop);
    int64_t wait = timeout;
    if (loop->ready.head || !inbox_empty(&loop->in)) {
        wait = 0;
    } else if (loop->timers) {
        int64_t until = timer_next_deadline(loop) - clock_now();
        if (until < 0)
            until = 0;
        if (wait < 0 || until < wait)
            wait = until;
    }
    wait_ring(loop, wait);
    inbox_drain(loop);
    if (loop->timers)
        timer_fire_expired(loop, clock_now());
    run_turn(loop);
    return (int)(loop->steps - steps);
}

/* ------------------------------------------------------------------ lifecycle */

static int ring_setup(tt_loop *loop, unsigned entries)
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
        rc = io_uring_queue_init_params(entries, &loop->ring, &p);
        if (rc == 0)
            return 0;
        if (rc != -EINVAL)
            break; /* refused outright: no point trying weaker flags */
    }
    const char *why = rc == -EPERM ? "operation not permitted (kernel.io_uring_disabled or a "
                                     "seccomp profile)"
                      : rc == -ENOSYS ? "the kernel has no io_uring (or seccomp hides it)"
                      : rc == -ENOMEM ? "out of locked memory (RLIMIT_MEMLOCK)"
                                      : strerror(-rc);
    fprintf(stderr, "tothread: cannot create an io_uring ring: %s\n", why);
    return rc;
}

tt_loop *tt_loop_new(const tt_loop_opts *opts)
{
    if (tls_loop) {
        errno = EBUSY;
        return NULL;
    }
    if (opts && (opts->stack_size > TT_MAX_STACK || opts->ring_entries > 32768)) {
        errno = EINVAL;
        return NULL;
    }
    tt_loop *loop = calloc(1, sizeof *loop);
    if (!loop) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned entries = opts && opts->ring_entries ? opts->ring_entries : 256;
    int rc = ring_setup(loop, entries);
    if (rc < 0) {
        free(loop);
        errno = -rc;
        return NULL;
    }
    loop->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    loop->embed_fd = -1;
    loop->default_stack = opts && opts->stack_size ? opts->stack_size : 64 * 1024;
    if (loop->default_stack < 16384)
        loop->default_stack = 16384;
    loop->stacks = stack_pool_new(loop->default_stack);
    if (loop->event_fd < 0 || !loop->stacks || ctx_init_thread(&loop->ctx) < 0 ||
        stack_overflow_handler_install() < 0) {
        if (loop->event_fd >= 0)
            close(loop->event_fd);
        stack_pool_free(loop->stacks);
        ctx_destroy(&loop->ctx);
        io_uring_queue_exit(&loop->ring);
        free(loop);
        errno = ENOMEM;
        return NULL;
    }
    ready_list_init(&loop->ready);
    inbox_init(&loop->in);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE); /* a release can release more */
    pthread_mutex_init(&loop->shell_mu, &ma);
    pthread_mutexattr_destroy(&ma);
    loop->owner = pthread_self();
    if (opts && opts->pool) {
        loop->pool = opts->pool;
        loop->pool_owned = false;
        pool_attach_default(opts->pool);
    }
    const char *dbg = getenv("TT_DEBUG");
    loop->debug = (opts && opts->debug) || (dbg && *dbg && strcmp(dbg, "0") != 0);
    tls_loop = loop;
    live_add(LIVE_LOOPS, 1);
    return loop;
}

/* Callbacks still queued when the loop goes away never run, but what they hold is released. */
static void discard_ready(tt_loop *loop)
{
    while (loop->ready.head) {
        ready_item *it = loop->ready.head;
        loop->ready.head = it->next;
        if (it->kind != RK_CALLBACK)
            continue;
        cb_node *n = (cb_node *)it;
        if (n->ri.type & CB_EMBEDDED) {
            if (n->aux)
                ((void (*)(cb_node *))n->aux)(n);
            continue;
        }
        if (n->ri.type & CB_DONE)
            tt_unref(n->fut);
        cb_node_put(loop, n);
    }
    ready_list_init(&loop->ready);
}

int tt_loop_free(tt_loop *loop)
{
    if (!loop)
        return -EINVAL;
    if (!loop_on_thread(loop) || loop->current || loop->in_run)
        return -EPERM; /* not from a task, nor from a callback of the running loop */
    if (loop->ntasks) {
        if (loop->debug)
            debug_loop_freed_with_tasks(loop);
        return -EBUSY;
    }
    loop->closing = true;
    pool_detach_loop(loop); /* running jobs become orphans: a worker discards their results */
    inbox_drain(loop);
    /* Callbacks already scheduled still run (a thread-safe handle waits on one); tasks cannot
     * be spawned any more. */
    loop->in_run = true; /* such a callback cannot free the loop again */
    for (int turns = 0; loop->ready.head && turns < 64; turns++)
        run_turn(loop);
    loop->in_run = false;
    pool_links_free(loop);
    pool_release_default(loop, 0); /* running jobs are orphans now: the pool goes when idle */
    discard_ready(loop);
    tls_loop = NULL;
    timer_heap_free(loop);
    stack_pool_free(loop->stacks);
    loop->stacks = NULL;
    stack_overflow_handler_uninstall();
    io_uring_queue_exit(&loop->ring);
    close(loop->event_fd);
    if (loop->embed_fd >= 0)
        close(loop->embed_fd);
#ifdef TT_SANITIZING
    loop->ctx.tsan_fiber = NULL; /* the thread's own fiber is not ours to destroy */
#endif
    ctx_destroy(&loop->ctx);
    live_add(LIVE_LOOPS, -1);
    pthread_mutex_lock(&loop->shell_mu);
    loop->closed = true;
    loop->shell_depth++;
    pool_bury_locked(loop);
    bool gone = --loop->shell_depth == 0 && loop->live_futures == 0;
    pthread_mutex_unlock(&loop->shell_mu);
    if (gone)
        loop_shell_free(loop);
    return 0;
}

/* A closed loop stays as a shell (its slabs hold the futures still referenced, and orphaned
 * jobs still run) until the last of them is released. */
void loop_shell_free(tt_loop *loop)
{
    pthread_mutex_destroy(&loop->shell_mu);
    slab_free_all(loop);
    free(loop);
}

/* ------------------------------------------------------------------ running */

intptr_t tt_loop_run_until(tt_loop *loop, tt_future *f)
{
    if (!loop || !f) {
        if (loop && loop_on_thread(loop))
            tt_unref(f);
        return -EINVAL;
    }
    if (!loop_on_thread(loop))
        return -EPERM; /* a foreign thread must not touch reference counts */
    if (loop->current || loop->in_run) {
        tt_unref(f);
        return -EPERM;
    }
    if (f->loop != loop) {
        tt_unref(f);
        return -EINVAL;
    }
    loop->in_run = true;
    loop->run_target = f;
    while (f->state != FS_DONE)
        loop_iterate(loop, TT_FOREVER);
    loop->run_target = NULL;
    loop->in_run = false;
    intptr_t r = tt_result(f);
    tt_unref(f);
    return r;
}

int tt_loop_run_once(tt_loop *loop, int64_t timeout)
{
    if (!loop)
        return -EINVAL;
    if (!loop_on_thread(loop) || loop->current || loop->in_run)
        return -EPERM;
    loop->in_run = true;
    if (loop->embed_fd >= 0) {
        uint64_t v; /* consume the readiness the host saw */
        (void)!read(loop->embed_fd, &v, sizeof v);
        atomic_store(&loop->sleeping, 0);
    }
    int ran = loop_iterate(loop, timeout);
    if (loop->embed_fd >= 0) {
        /* Between calls nobody runs this loop: producers must wake it through the eventfd,
         * whose read completion the ring signals on embed_fd. */
        arm_event_read(loop);
        atomic_store(&loop->sleeping, 1);
        if (loop->sq_pending) {
            io_uring_submit(&loop->ring);
            loop->sq_pending = 0;
        }
        if (!inbox_empty(&loop->in) || loop->ready.head) {
            uint64_t one = 1;
            (void)!write(loop->embed_fd, &one, sizeof one);
        }
    }
    loop->in_run = false;
    return ran;
}

int tt_loop_fd(tt_loop *loop)
{
    if (!loop)
        return -EINVAL;
    if (!loop_on_thread(loop))
        return -EPERM;
    if (loop->embed_fd < 0) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            return -errno;
        int rc = io_uring_register_eventfd(&loop->ring, fd);
        if (rc < 0) {
            close(fd);
            return rc;
        }
        loop->embed_fd = fd;
        arm_event_read(loop);
        atomic_store(&loop->sleeping, 1);
        io_uring_submit(&loop->ring);
        loop->sq_pending = 0;
    }
    return loop->embed_fd;
}

int64_t tt_loop_next_deadline(tt_loop *loop)
{
    if (!loop)
        return -EINVAL;
    if (!loop_on_thread(loop))
        return -EPERM;
    if (loop->ready.head || !inbox_empty(&loop->in))
        return 0;
    return timer_next_deadline(loop);
}

tt_loop *tt_loop_current(void) { return tls_loop; }

int tt_call_soon(tt_loop *loop, void (*cb)(void *), void *arg)
{
    if (!loop || !cb)
        return -EINVAL;
    if (!loop_on_thread(loop))
        return -EPERM;
    cb_node *n = cb_node_get(loop);
    if (!n)
        return -ENOMEM;
    n->ri.type = CB_CALL;
    n->fn.call = cb;
    n->arg = arg;
    loop_push_ready(loop, &n->ri);
    return 0;
}

int tt_run(tt_fn main, void *arg, intptr_t *result)
{
    if (!main)
        return -EINVAL;
    if (tls_loop)
        return -EBUSY;
    tt_loop *loop = tt_loop_new(NULL);
    if (!loop)
        return -errno;
    tt_task_opts o = {.name = "main", .stack_size = 0};
    tt_future *m = tt_spawn_on(loop, &o, main, arg);
    if (!m) {
        int e = errno;
        tt_loop_free(loop);
        return -e;
    }
    intptr_t r = tt_loop_run_until(loop, m);
    /* asyncio.run: cancel what is left and let it finish, then let in-flight jobs land. */
    task_cancel_all(loop, NULL);
    while (loop->ntasks)
        loop_iterate(loop, TT_FOREVER);
    /* shutdown_default_executor: the default pool's jobs, queued ones included, run to the end
     * and are delivered; jobs on the application's own pools are left to finish (orphans). */
    if (loop->pool && loop->pool_owned) {
        pool_flush(loop);
        tt_pool_shutdown(loop->pool, TT_FOREVER, 0);
    }
    loop_iterate(loop, 0);
    tt_loop_free(loop);
    if (result)
        *result = r;
    return 0;
}
