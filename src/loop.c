/* The event loop, the hub: a FIFO ready queue run in turns (asyncio's batches) over the
 * backend (io_uring or epoll, behind backend.c's seam), the timer heap and the inbox from other
 * threads. One iteration reads top to bottom: hand batched jobs to pools, wait on the backend
 * (briefly spinning first while jobs are in flight) which runs the completions, drain the inbox,
 * fire due timers, run one turn. */
#include "internal.h"

#include <unistd.h>

_Thread_local tt_loop *tls_loop;

#define SPIN_NS 50000 /* ~ one cross-CPU wake-up on the reference VM, and never more */
#define SPIN_MAX_INFLIGHT 8

/* -------------------------------------------------------------------------- wait */

/* Waits for completions or messages at most timeout ns (0: just looks), then runs the
 * completions. */
static void wait_for_work(tt_loop *loop, int64_t timeout)
{
    long inflight = loop->off.jobs_inflight;
    if (timeout != 0 && inflight > 0 && inflight <= SPIN_MAX_INFLIGHT) {
        /* A few blocking calls are in flight: a completion most likely lands within
         * microseconds, and putting this thread to sleep would cost a cross-CPU wake-up. With
         * many in flight, completions come in bursts and spinning only takes CPU from them. */
        int64_t until = clock_now() + (timeout > 0 && timeout < SPIN_NS ? timeout : SPIN_NS);
        unsigned i = 0;
        while (inbox_empty(&loop->wake.in) && !backend_ready(loop)) {
            cpu_relax();
            if ((++i & 63) == 0 && clock_now() >= until)
                break;
        }
        if (!inbox_empty(&loop->wake.in) || backend_ready(loop))
            timeout = 0;
    }
    if (timeout != 0) {
        backend_arm_wake(loop);
        atomic_store(&loop->wake.sleeping, 1);
        if (!inbox_empty(&loop->wake.in)) {
            timeout = 0; /* a producer came in before it could see the flag */
            atomic_store(&loop->wake.sleeping, 0);
        }
    }
    backend_poll(loop, timeout);
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
    offload_flush(loop);
    int64_t wait = timeout;
    if (loop->ready.head || !inbox_empty(&loop->wake.in)) {
        wait = 0;
    } else if (loop->timers.len) {
        int64_t until = timer_next_deadline(loop) - clock_now();
        if (until < 0)
            until = 0;
        if (wait < 0 || until < wait)
            wait = until;
    }
    wait_for_work(loop, wait);
    inbox_drain(loop);
    if (loop->timers.len)
        timer_fire_expired(loop, clock_now());
    run_turn(loop);
    return (int)(loop->steps - steps);
}

/* ------------------------------------------------------------------ lifecycle */

tt_loop *tt_loop_new(const tt_loop_opts *opts)
{
    if (tls_loop) {
        errno = EBUSY;
        return NULL;
    }
    if (opts && (opts->stack_size > TT_MAX_STACK || opts->ring_entries > 32768 ||
                 opts->backend < TT_BACKEND_AUTO || opts->backend > TT_BACKEND_EPOLL)) {
        errno = EINVAL;
        return NULL;
    }
    tt_loop *loop = calloc(1, sizeof *loop);
    if (!loop) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned entries = opts && opts->ring_entries ? opts->ring_entries : 256;
    const char *dbg = getenv("TT_DEBUG");
    loop->debug = (opts && opts->debug) || (dbg && *dbg && strcmp(dbg, "0") != 0);
    int rc = backend_init(loop, opts ? (int)opts->backend : TT_BACKEND_AUTO, entries,
                          loop->debug);
    if (rc < 0) {
        free(loop);
        errno = -rc;
        return NULL;
    }
    loop->default_stack = opts && opts->stack_size ? opts->stack_size : 64 * 1024;
    if (loop->default_stack < 16384)
        loop->default_stack = 16384;
    loop->stacks = stack_pool_new(loop->default_stack);
    if (!loop->stacks || ctx_init_thread(&loop->ctx) < 0 || stack_overflow_handler_install() < 0) {
        stack_pool_free(loop->stacks);
        ctx_destroy(&loop->ctx);
        backend_free(loop);
        free(loop);
        errno = ENOMEM;
        return NULL;
    }
    ready_list_init(&loop->ready);
    inbox_init(&loop->wake.in);
    shell_init(loop);
    offload_init(loop, opts ? opts->pool : NULL);
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
            if (n->release)
                n->release(n);
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
    if (loop->tasks.n) {
        if (loop->debug)
            task_report_alive(loop);
        return -EBUSY;
    }
    loop->closing = true;
    offload_detach(loop); /* running jobs become orphans: a worker discards their results */
    inbox_drain(loop);
    /* Callbacks already scheduled still run (a thread-safe handle waits on one); tasks cannot
     * be spawned any more. */
    loop->in_run = true; /* such a callback cannot free the loop again */
    for (int turns = 0; loop->ready.head && turns < 64; turns++)
        run_turn(loop);
    loop->in_run = false;
    offload_links_free(loop);
    offload_release_default(loop, 0); /* running jobs are orphans now: the pool goes when idle */
    discard_ready(loop);
    tls_loop = NULL;
    timer_heap_free(loop);
    stack_pool_free(loop->stacks);
    loop->stacks = NULL;
    stack_overflow_handler_uninstall();
    backend_free(loop);
#ifdef TT_SANITIZING
    loop->ctx.tsan_fiber = NULL; /* the thread's own fiber is not ours to destroy */
#endif
    ctx_destroy(&loop->ctx);
    live_add(LIVE_LOOPS, -1);
    shell_close(loop); /* frees it now, or with the last future or orphaned job */
    return 0;
}

/* ------------------------------------------------------------------ running */

intptr_t tt_loop_run_until(tt_loop *loop, tt_future *f)
{
    if (!loop)
        loop = tls_loop;
    if (!f)
        return -EINVAL;
    if (!loop || !loop_on_thread(loop))
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
    if (!loop && !(loop = tls_loop))
        return -EPERM;
    if (!loop_on_thread(loop) || loop->current || loop->in_run)
        return -EPERM;
    loop->in_run = true;
    bool embedded = loop->backend.embed_fd >= 0;
    if (embedded) {
        backend_embed_consume(loop); /* the readiness the host saw */
        atomic_store(&loop->wake.sleeping, 0);
    }
    int ran = loop_iterate(loop, timeout);
    if (embedded) {
        /* Between calls nobody runs this loop: producers must wake it through the backend,
         * which makes the embedding fd readable. */
        backend_arm_wake(loop);
        atomic_store(&loop->wake.sleeping, 1);
        backend_flush(loop);
        if (!inbox_empty(&loop->wake.in) || loop->ready.head)
            backend_embed_signal(loop);
    }
    loop->in_run = false;
    return ran;
}

int tt_loop_fd(tt_loop *loop)
{
    if (!loop && !(loop = tls_loop))
        return -EPERM;
    if (!loop_on_thread(loop))
        return -EPERM;
    if (loop->backend.embed_fd < 0) {
        atomic_store(&loop->wake.sleeping, 1);
        int fd = backend_embed_fd(loop);
        if (fd < 0) {
            atomic_store(&loop->wake.sleeping, 0);
            return fd;
        }
    }
    return loop->backend.embed_fd;
}

int tt_loop_next_deadline(tt_loop *loop, int64_t *deadline)
{
    if (!deadline)
        return -EINVAL;
    if (!loop && !(loop = tls_loop))
        return -EPERM;
    if (!loop_on_thread(loop))
        return -EPERM;
    if (loop->ready.head || !inbox_empty(&loop->wake.in))
        *deadline = 0;
    else
        *deadline = timer_next_deadline(loop);
    return 0;
}

tt_loop *tt_loop_current(void) { return tls_loop; }

int tt_call_soon(tt_loop *loop, void (*cb)(void *), void *arg)
{
    if (!cb)
        return -EINVAL;
    if (!loop && !(loop = tls_loop))
        return -EPERM;
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
    return tt_run_with(main, arg, result, NULL);
}

int tt_run_with(tt_fn main, void *arg, intptr_t *result, const tt_loop_opts *opts)
{
    if (!main)
        return -EINVAL;
    if (tls_loop)
        return -EBUSY;
    tt_loop *loop = tt_loop_new(opts);
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
    while (loop->tasks.n)
        loop_iterate(loop, TT_FOREVER);
    /* shutdown_default_executor: the default pool's jobs, queued ones included, run to the end
     * and are delivered; jobs on the application's own pools are left to finish (orphans). */
    offload_shutdown_default(loop);
    loop_iterate(loop, 0);
    tt_loop_free(loop);
    if (result)
        *result = r;
    return 0;
}
