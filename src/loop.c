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
        watchdog_step(loop, NULL);
        if (loop->dead)
            task_free_dead(loop);
    } else if (TT_UNLIKELY(loop->watchdog.on)) { /* one test per callback when off */
        watchdog_step(loop, loop);
        future_run_item(loop, it);
        watchdog_step(loop, NULL);
    } else {
        future_run_item(loop, it);
    }
}

/* Runs one turn; now is the clock if the caller read it (else 0). One clock read per turn: the
 * ready lag and the submit time of the turn's jobs. */
static void run_turn(tt_loop *loop, int64_t now)
{
    if (!loop->ready.head) {
        loop->turn_left_work = false;
        return;
    }
    if (!now)
        now = clock_now();
    if (loop->turn_left_work)
        hist_record(&loop->lag.ready, now - loop->turn_start);
    loop->turn_start = now;
    loop->batch_last = TT_CONTAINER_OF(loop->ready.tailp, ready_item, next);
    while (loop->batch_last)
        dispatch(loop, ready_pop(loop));
    loop->turn_left_work = loop->ready.head != NULL;
}

/* The next time the loop must look without being woken: its earliest timer, or staff_due, when
 * a pool's short-staffed batch is to be checked (offload_check_staff). TT_FOREVER: none. */
static int64_t loop_next_due(tt_loop *loop, int64_t staff_due)
{
    return due_earlier(loop->timers.armed ? timer_next_deadline(loop) : TT_FOREVER, staff_due);
}

int loop_iterate(tt_loop *loop, int64_t timeout)
{
    uint64_t steps = loop->steps;
    offload_flush(loop);
    int64_t wait = timeout;
    /* At every iteration, busy or not: the check may be due while tasks keep the loop busy. */
    int64_t staff_due = offload_check_staff(loop);
    int64_t due;
    if (loop->ready.head || !inbox_empty(&loop->wake.in)) {
        wait = 0;
    } else if ((due = loop_next_due(loop, staff_due)) != TT_FOREVER) {
        int64_t until = due - clock_now();
        if (until < 0)
            until = 0;
        if (wait < 0 || until < wait)
            wait = until;
    }
    wait_for_work(loop, wait);
    inbox_drain(loop);
    int64_t now = loop->off.drain_now; /* the drain's clock, if it read one: the turn's */
    loop->off.drain_now = 0;
    if (loop->timers.armed)
        timer_fire_expired(loop, now = clock_now());
    run_turn(loop, now);
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
    loop->step_hooks = loop->debug ? STEP_DEBUG : 0;
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
    if (loop->debug && tt_loop_watch(loop, 0) < 0) { /* no monitor thread: no loop either */
        int e = errno;
        tt_loop_free(loop);
        errno = e;
        return NULL;
    }
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

static bool ready_has_user_callback(tt_loop *loop)
{
    for (ready_item *it = loop->ready.head; it; it = it->next)
        if (it->kind == RK_CALLBACK && (it->type & (CB_CALL | CB_PUBLIC)))
            return true;
    return false;
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
    loop_watch_stop(loop);
    offload_detach(loop); /* running jobs become orphans: a worker discards their results */
    inbox_drain(loop);
    /* Callbacks already scheduled still run (a thread-safe handle waits on one); tasks cannot
     * be spawned any more. */
    loop->in_run = true; /* such a callback cannot free the loop again */
    /* Internal chains (a gather of gathers settling level by level, each holding itself until
     * its children reported) run to the end, however long; only turns that run the
     * application's callbacks are counted, so one that re-arms itself cannot hold us here. */
    for (int turns = 0; loop->ready.head && turns < 64;) {
        if (ready_has_user_callback(loop))
            turns++;
        run_turn(loop, 0);
    }
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
    if (!f)
        return -EINVAL;
    if (!(loop = loop_here(loop)))
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
    if (!(loop = loop_here(loop)) || loop->current || loop->in_run)
        return -EPERM;
    loop->in_run = true;
    bool embedded = loop->backend.embed_fd >= 0;
    if (embedded) {
        backend_embed_consume(loop); /* the readiness the host saw */
        atomic_store(&loop->wake.sleeping, 0);
    }
    int ran = loop_iterate(loop, timeout);
    offload_flush(loop); /* jobs submitted during this turn must not wait for the next one */
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
    if (!(loop = loop_here(loop)))
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
    if (!(loop = loop_here(loop)))
        return -EPERM;
    if (loop->ready.head || !inbox_empty(&loop->wake.in) || loop->off.submit_pending)
        *deadline = 0;
    else
        *deadline = loop_next_due(loop, offload_check_staff(loop));
    return 0;
}

tt_loop *tt_loop_current(void) { return tls_loop; }

int tt_call_soon(tt_loop *loop, void (*cb)(void *), void *arg)
{
    if (!cb)
        return -EINVAL;
    if (!(loop = loop_here(loop)))
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
    /* asyncio.run's teardown, inside the loop (in_run: callbacks that run now cannot free,
     * run or re-enter it): cancel what is left, including tasks spawned meanwhile (by a
     * callback, or a tt_loop_submit landing now), until nothing is alive; the default pool's
     * jobs, queued ones included, run to the end and are delivered (shutdown_default_executor);
     * jobs on the application's own pools are left to finish (orphans). */
    loop->in_run = true;
    uint64_t cancelled_upto = 0;
    for (;;) {
        while (loop->tasks.n) {
            if (loop->tasks.next_id > cancelled_upto) {
                task_cancel_all(loop, cancelled_upto, NULL);
                cancelled_upto = loop->tasks.next_id;
            }
            loop_iterate(loop, TT_FOREVER);
        }
        offload_shutdown_default(loop);
        loop_iterate(loop, 0);
        if (!loop->tasks.n && !loop->ready.head && inbox_empty(&loop->wake.in))
            break;
    }
    loop->in_run = false;
    int rc = tt_loop_free(loop);
    if (rc < 0)
        return rc;
    if (result)
        *result = r;
    return 0;
}

/* ------------------------------------------------------------------ observability */

int tt_loop_lag_get(tt_loop *loop, tt_loop_lag *out)
{
    if (!out)
        return -EINVAL;
    if (!(loop = loop_here(loop)))
        return -EPERM;
    *out = loop->lag;
    hist_seal(&out->timers);
    hist_seal(&out->ready);
    return 0;
}

/* The monitor's look at the loop (registry lock held): a step that began at least `after` ago
 * (its beat has not moved since) is reported once, while it is still running. The task is alive
 * while its step runs; its name was written before it was published (release/acquire). */
static int64_t loop_check(watch_entry *e, int64_t now)
{
    struct loop_watchdog *w = TT_CONTAINER_OF(e, struct loop_watchdog, entry);
    tt_loop *loop = TT_CONTAINER_OF(w, tt_loop, watchdog);
    uint64_t beat = atomic_load_explicit(&w->beat, memory_order_relaxed);
    void *busy = atomic_load_explicit(&w->busy, memory_order_acquire);
    if (beat != w->seen_beat || !busy) {
        w->seen_beat = beat;
        w->seen_at = now;
    } else if (now - w->seen_at >= w->after && w->reported_beat != beat) {
        w->reported_beat = beat;
        char what[80];
        if (busy == loop) {
            snprintf(what, sizeof what, "a callback");
        } else {
            tt_task *t = busy;
            if (t->name)
                snprintf(what, sizeof what, "task '%s'", t->name);
            else
                snprintf(what, sizeof what, "task 'task-%llu'", (unsigned long long)t->id);
        }
        debug_warn(NULL, "loop stalled for %.1f ms in %s (a blocking call on the loop's thread?)",
                   (double)(now - w->seen_at) / 1e6, what);
    }
    return w->after / 4;
}

int tt_loop_watch(tt_loop *loop, int64_t stall_after)
{
    if (!(loop = loop_here(loop)))
        return -EPERM;
    if (stall_after == 0)
        stall_after = loop->debug ? WATCH_DEBUG_THRESHOLD : -1;
    if (stall_after < 0) {
        loop_watch_stop(loop);
        return 0;
    }
    struct loop_watchdog *w = &loop->watchdog;
    w->entry.check = loop_check;
    watch_remove(&w->entry); /* the monitor reads after: re-added below with the new one */
    w->after = stall_after;
    w->seen_at = clock_now();
    w->on = true;
    int rc = watch_add(&w->entry, stall_after / 4);
    if (rc < 0)
        w->on = false;
    if (w->on)
        loop->step_hooks |= STEP_WATCH;
    else
        loop->step_hooks &= (uint8_t)~STEP_WATCH;
    return rc;
}

void loop_watch_stop(tt_loop *loop)
{
    watch_remove(&loop->watchdog.entry);
    loop->watchdog.on = false;
    loop->step_hooks &= (uint8_t)~STEP_WATCH;
    atomic_store_explicit(&loop->watchdog.busy, NULL, memory_order_relaxed);
}
