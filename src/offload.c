/* Offloading, the loop's side: tt_to_thread and friends batch a turn's jobs per pool and hand
 * them over in one splice (pool.c runs them), deliver completions from the inbox, and cancel
 * without ever letting a running job's memory go; also the loop's links to the pools it used
 * (backpressure waiters, loop free) and its default pool. Never touches a pool's fields. */
#include "internal.h"

static int offload_cancel(tt_future *f, const char *msg);
const future_ops job_ops = {"job", offload_cancel, NULL};
static void offload_deliver(tt_loop *loop, inbox_node *n);

/* The loop's side of one pool it has used: this turn's batch, the tasks waiting for room in a
 * bounded queue, and its registration with the pool (where room notices come). */
typedef struct offload_link {
    struct offload_link *next;
    tt_pool *pool;
    pool_client *client;
    bool bounded;                   /* the pool's queue has a limit (fixed at its creation) */
    inbox_node room_in;
    tt_future **waiters;            /* tasks waiting for room, FIFO */
    size_t nwaiters, capwaiters;
    job *batch_head, **batch_tailp; /* submitted during this turn */
    size_t batch_n;
    hist_shared *resume;            /* resume latencies on this pool (NULL: no memory) */
} offload_link;

static void offload_room(tt_loop *loop, inbox_node *n);

static offload_link *offload_link_for(tt_loop *loop, tt_pool *p)
{
    for (offload_link *l = loop->off.links; l; l = l->next)
        if (l->pool == p)
            return l;
    offload_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->room_in.handle = offload_room;
    l->client = pool_client_new(p, loop, &l->room_in);
    if (!l->client) {
        free(l);
        return NULL;
    }
    l->pool = p;
    l->bounded = pool_bounded(p);
    l->resume = calloc(1, sizeof *l->resume); /* without it, only this histogram is missing */
    if (l->resume)
        pool_client_resume_hist(p, l->client, l->resume);
    l->batch_tailp = &l->batch_head;
    l->next = loop->off.links;
    loop->off.links = l;
    return l;
}

/* Completes every job of l's batch with err: they never reached the pool. */
static void fail_batch(tt_loop *loop, offload_link *l, intptr_t err)
{
    for (job *j = l->batch_head, *next; j; j = next) {
        next = j->next;
        j->state = J_FINISHED;
        j->result = err;
        future_complete(&j->fut, err);
        loop->off.jobs_inflight--;
        live_add(LIVE_JOBS, -1);
        tt_unref(&j->fut); /* the in-flight reference */
    }
}

void offload_flush(tt_loop *loop)
{
    if (!loop->off.submit_pending)
        return;
    loop->off.submit_pending = 0;
    /* A turn's jobs for one pool join its queue in one splice, one lock hold and one round of
     * wake-ups. */
    for (offload_link *l = loop->off.links; l; l = l->next) {
        if (!l->batch_n)
            continue;
        int rc = pool_enqueue(l->pool, l->batch_head,
                              TT_CONTAINER_OF(l->batch_tailp, job, next), l->batch_n);
        if (TT_UNLIKELY(rc < 0))
            fail_batch(loop, l, rc); /* the pool lost its threads or was shut down meanwhile */
        l->batch_head = NULL;
        l->batch_tailp = &l->batch_head;
        l->batch_n = 0;
    }
}

int64_t offload_check_staff(tt_loop *loop)
{
    int64_t due = TT_FOREVER;
    if (loop->off.jobs_inflight)
        for (offload_link *l = loop->off.links; l; l = l->next)
            due = due_earlier(due, pool_check_staff(l->pool));
    loop->off.staff_due = due;
    return due;
}

/* ------------------------------------------------------------- resume latency (obs) */
/* fn returned (j->stamp, the worker's clock) -> its loop delivers it: sampled once per inbox
 * drain, on its first timed job, with the drain's one clock read. A batch of completions costs
 * one record, not one per job (W1's thousands of jobs per drain would pay ~5 %). Recorded on the
 * link's histogram without a lock; the pool sums its clients' when it is read. A timed job comes
 * here instead of offload_deliver (the pool changes its handler): the others pay nothing. */
void offload_deliver_timed(tt_loop *loop, inbox_node *n)
{
    job *j = TT_CONTAINER_OF(n, job, in);
    loop_offload *o = &loop->off;
    /* Not the drain's first timed job; closing: its pool may be gone. */
    if (o->drain_now || loop->closing) {
        offload_deliver(loop, n);
        return;
    }
    o->drain_now = clock_now();
    offload_link *l = o->links;
    while (l && l->pool != j->pool)
        l = l->next;
    if (l && l->resume)
        hist_shared_record(l->resume, o->drain_now - j->stamp);
    offload_deliver(loop, n);
}

/* The inbox handler of a job: it finished, or was cancelled before it ran. */
static void offload_deliver(tt_loop *loop, inbox_node *n)
{
    job *j = TT_CONTAINER_OF(n, job, in);
    loop->off.jobs_inflight--;
    tt_future *f = &j->fut;
    if (j->state == J_DEQUEUED) {
        if (f->state != FS_DONE) /* a shutdown's cancel: tt_cancel settled the others */
            future_complete_cancelled(f, NULL);
    } else if (f->state == FS_DONE) {
        /* Abandoned (TT_JOB_ABANDON_ON_CANCEL): nobody will read this result. */
        const tt_job_opts *o = job_opts(j);
        if (o && o->discard)
            o->discard(j->result, j->arg);
    } else {
        /* A running job is a task that cannot be interrupted: even when asked to stop, it ends
         * with what fn returned (-ECANCELED: cancelled, keeping the request's message). */
        if (j->result == -ECANCELED)
            future_complete_cancelled(f, NULL);
        else
            future_complete(f, j->result);
    }
    live_add(LIVE_JOBS, -1);
    tt_unref(f); /* the in-flight reference */
}

/* Called by pool_detach under the pool lock for a running job of the loop being freed: left to
 * finish (no thread is killed) and asked to stop; its in-flight reference now belongs to the
 * worker (shell_bury_job). The future is settled under the lock because the worker may take the
 * job over the moment it is released (settling runs no user code). */
static void offload_orphan(job *j)
{
    j->fut.loop->off.jobs_inflight--;
    if (j->fut.state != FS_DONE)
        future_complete_cancelled(&j->fut, NULL);
}

void offload_detach(tt_loop *loop)
{
    offload_flush(loop);
    for (offload_link *l = loop->off.links; l; l = l->next) {
        job *cancelled = pool_detach(l->pool, l->client, offload_orphan);
        l->client = NULL;
        for (job *j = cancelled, *jn; j; j = jn) {
            jn = j->next;
            loop->off.jobs_inflight--;
            if (j->fut.state != FS_DONE)
                future_complete_cancelled(&j->fut, NULL);
            live_add(LIVE_JOBS, -1);
            tt_unref(&j->fut);
        }
    }
}

void offload_forget(tt_loop *loop, tt_pool *p)
{
    for (offload_link **lp = &loop->off.links; *lp; lp = &(*lp)->next) {
        offload_link *l = *lp;
        if (l->pool != p)
            continue;
        /* Still referred to (tasks waiting for room, a batch, a room notice in the inbox): it
         * goes with the loop. */
        if (l->nwaiters || l->batch_n || !pool_client_release(p, l->client))
            return;
        *lp = l->next;
        free(l->waiters);
        free(l->resume); /* pool_client_release added it to the pool's own */
        free(l);
        return;
    }
}

void offload_links_free(tt_loop *loop)
{
    for (offload_link *l = loop->off.links, *next; l; l = next) {
        next = l->next;
        for (size_t i = 0; i < l->nwaiters; i++)
            tt_unref(l->waiters[i]);
        free(l->waiters);
        free(l->resume);
        free(l);
    }
    loop->off.links = NULL;
}

/* The inbox handler of a room notice: the pool's bounded queue shrank. */
static void offload_room(tt_loop *loop, inbox_node *n)
{
    offload_link *l = TT_CONTAINER_OF(n, offload_link, room_in);
    (void)loop;
    if (l->client) /* NULL: sent before offload_detach, drained by tt_loop_free after it */
        pool_room_noticed(l->pool, l->client);
    size_t k = l->nwaiters;
    l->nwaiters = 0;
    for (size_t i = 0; i < k; i++) {
        future_complete(l->waiters[i], 0);
        tt_unref(l->waiters[i]);
    }
}

/* Suspends the current task until the pool's bounded queue has room (counting this loop's own
 * batch). 0, -ECANCELED, -ENOMEM. */
static int offload_wait_room(tt_loop *loop, offload_link *l)
{
    for (;;) {
        offload_flush(loop);
        if (!pool_want_room(l->pool, l->client))
            return 0;
        if (l->nwaiters == l->capwaiters) {
            size_t cap = l->capwaiters ? l->capwaiters * 2 : 8;
            tt_future **w = realloc(l->waiters, cap * sizeof *w);
            if (!w)
                return -ENOMEM;
            l->waiters = w;
            l->capwaiters = cap;
        }
        tt_future *f = tt_future_new(loop);
        if (!f)
            return -ENOMEM;
        l->waiters[l->nwaiters++] = tt_ref(f);
        intptr_t r = tt_await(f);
        if (r < 0) {
            /* Cancelled: leave the line without losing a later wake-up for the others. */
            for (size_t i = 0; i < l->nwaiters; i++)
                if (l->waiters[i] == f) {
                    memmove(&l->waiters[i], &l->waiters[i + 1],
                            (l->nwaiters - i - 1) * sizeof *l->waiters);
                    l->nwaiters--;
                    tt_unref(f);
                    break;
                }
            return (int)r;
        }
    }
}

/* ------------------------------------------------------------------ the default pool */

void offload_init(tt_loop *loop, tt_pool *pool)
{
    loop->off.staff_due = TT_FOREVER;
    if (pool) {
        loop->off.pool = pool;
        loop->off.pool_owned = false;
        pool_attach(pool, 1);
    }
}

static tt_pool *offload_default_pool(tt_loop *loop)
{
    if (!loop->off.pool) {
        loop->off.pool = tt_pool_new(NULL);
        if (!loop->off.pool)
            return NULL;
        loop->off.pool_owned = true;
        pool_attach(loop->off.pool, 1);
    }
    return loop->off.pool;
}

tt_pool *tt_loop_pool(tt_loop *loop)
{
    if (!(loop = loop_here(loop)) || loop->closing) {
        errno = EPERM;
        return NULL;
    }
    return offload_default_pool(loop);
}

void offload_release_default(tt_loop *loop, int64_t timeout)
{
    tt_pool *p = loop->off.pool;
    if (!p)
        return;
    loop->off.pool = NULL;
    pool_attach(p, -1);
    if (!loop->off.pool_owned)
        return;
    if (tt_pool_shutdown(p, timeout, TT_POOL_CANCEL_QUEUED) == 0) {
        tt_pool_free(p);
        return;
    }
    pool_free_when_idle(p); /* jobs still run: the last worker to leave frees the pool */
}

int tt_loop_pool_latency_get(tt_loop *loop, tt_pool_latency *out)
{
    if (!out)
        return -EINVAL;
    if (!(loop = loop_here(loop)))
        return -EPERM;
    if (!loop->off.pool)
        return -ENOENT;
    return tt_pool_latency_get(loop->off.pool, out);
}

void offload_shutdown_default(tt_loop *loop)
{
    if (loop->off.pool && loop->off.pool_owned) {
        offload_flush(loop);
        tt_pool_shutdown(loop->off.pool, TT_FOREVER, 0);
    }
}

/* ------------------------------------------------------------------ submitting */

static tt_future *offload_submit(tt_pool *pool, const tt_job_opts *o, tt_fn fn, void *arg,
                                 bool may_wait)
{
    tt_loop *loop = tls_loop;
    if (!loop || loop->closing) {
        errno = EPERM;
        return NULL;
    }
    if (!fn || (o && (o->flags & ~(TT_JOB_ABANDON_ON_CANCEL | TT_JOB_INTERRUPT_ON_CANCEL)))) {
        errno = EINVAL;
        return NULL;
    }
    if (o && (o->flags & TT_JOB_INTERRUPT_ON_CANCEL)) {
        int irc = interrupt_setup();
        if (irc < 0) {
            errno = -irc;
            return NULL;
        }
    }
    tt_pool *p = pool ? pool : offload_default_pool(loop);
    if (!p)
        return NULL;
    offload_link *l = loop->off.links && loop->off.links->pool == p ? loop->off.links
                                                                     : offload_link_for(loop, p);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    int rc = pool_admit(p);
    if (TT_UNLIKELY(rc)) {
        if (rc == 1 && (!may_wait || !task_current()))
            rc = -EAGAIN;
        else if (rc == 1)
            rc = offload_wait_room(loop, l);
        if (rc) {
            errno = -rc;
            return NULL;
        }
    }
    job *j = future_alloc(loop, sizeof(job) + (o ? sizeof(tt_job_opts) : 0), &job_ops);
    if (!j) {
        errno = ENOMEM;
        return NULL;
    }
    j->fut.refs = 2; /* the caller's, and the in-flight one dropped at delivery */
    j->in.handle = offload_deliver;
    j->pool = p;
    j->fn = fn;
    j->arg = arg;
    j->stamp = loop->turn_start; /* queue wait's start: no clock read per job */
    if (o) {
        j->opts[0] = *o;
        j->has_opts = 1;
    }
    j->state = J_QUEUED;
    j->next = NULL;
    *l->batch_tailp = j;
    l->batch_tailp = &j->next;
    l->batch_n++;
    loop->off.submit_pending++;
    loop->off.jobs_inflight++;
    live_add(LIVE_JOBS, 1);
    if (l->bounded)
        offload_flush(loop); /* a bounded queue must count it now */
    return &j->fut;
}

tt_future *tt_to_thread(tt_fn fn, void *arg) { return offload_submit(NULL, NULL, fn, arg, true); }

tt_future *tt_to_thread_on(tt_pool *pool, const tt_job_opts *o, tt_fn fn, void *arg)
{
    return offload_submit(pool, o, fn, arg, true);
}

tt_future *tt_try_to_thread(tt_pool *pool, tt_fn fn, void *arg)
{
    return offload_submit(pool, NULL, fn, arg, false);
}

static int offload_cancel(tt_future *f, const char *msg)
{
    job *j = (job *)f;
    offload_flush(f->loop); /* so that a queued job is in its pool's queue, under its lock */
    if (f->state == FS_DONE)
        return 0; /* the flush failed it: its pool could not take it */
    int how = pool_cancel(j);
    if (how == JC_DEQUEUED) {
        future_complete_cancelled(f, msg); /* it never ran and never will: cancelled now */
        return 1;
    }
    if (how == JC_NONE)
        return 0; /* dequeued by a shutdown: its cancellation is already on its way */
    if (msg && !f->cancel_msg)
        f->cancel_msg = strdup(msg);
    const tt_job_opts *o = job_opts(j);
    if (how == JC_STOPPING_NOW && o && o->unblock)
        o->unblock(j->arg);
    if (how == JC_STOPPING_NOW && o && (o->flags & TT_JOB_INTERRUPT_ON_CANCEL))
        pool_interrupt(j);
    if (o && (o->flags & TT_JOB_ABANDON_ON_CANCEL))
        future_complete_cancelled(f, msg);
    return 1; /* else it ends with what fn returns (job_runs_on tells an awaiting task) */
}
