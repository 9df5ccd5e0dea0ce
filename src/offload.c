/* The worker pool, loop side: tt_to_thread and friends batch a turn's jobs per pool and hand
 * them over in one splice, deliver completions from the inbox, and cancel without ever letting
 * a running job's memory go (DESIGN.md "Offloading blocking calls"); also the loop's links to
 * the pools it used (backpressure waiters, loop free). */
#include "internal.h"

static int job_cancel_op(tt_future *f, const char *msg);
static const future_ops job_ops = {FK_JOB, "job", job_cancel_op, NULL};

static pool_link *link_for(tt_loop *loop, tt_pool *p)
{
    for (pool_link *l = loop->links; l; l = l->next_in_loop)
        if (l->pool == p)
            return l;
    pool_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->pool = p;
    l->loop = loop;
    l->room_in.kind = IN_ROOM;
    l->batch_tailp = &l->batch_head;
    l->next_in_loop = loop->links;
    loop->links = l;
    pthread_mutex_lock(&p->mu);
    l->next_in_pool = p->links;
    p->links = l;
    pthread_mutex_unlock(&p->mu);
    return l;
}

/* Completes every job of l's batch with err: they never reached the pool. */
static void fail_batch(tt_loop *loop, pool_link *l, intptr_t err)
{
    for (job *j = l->batch_head, *next; j; j = next) {
        next = j->next;
        j->state = J_FINISHED;
        j->result = err;
        future_complete(&j->fut, err);
        loop->jobs_inflight--;
        live_add(LIVE_JOBS, -1);
        tt_unref(&j->fut); /* the in-flight reference */
    }
    l->batch_head = NULL;
    l->batch_tailp = &l->batch_head;
    l->batch_n = 0;
}

void pool_flush(tt_loop *loop)
{
    if (!loop->submit_pending)
        return;
    loop->submit_pending = 0;
    /* A turn's jobs for one pool join its queue in one splice, one lock hold and one round of
     * wake-ups. */
    for (pool_link *l = loop->links; l; l = l->next_in_loop) {
        if (!l->batch_n)
            continue;
        tt_pool *p = l->pool;
        job *tail = TT_CONTAINER_OF(l->batch_tailp, job, next);
        worker *wake[64];
        pthread_mutex_lock(&p->mu);
        /* submit saw a thread (a relaxed hint); if the last one has retired since and none can
         * start now, or the pool was shut down meanwhile, nothing would ever run the batch. */
        if (TT_UNLIKELY(!p->threads) && (p->shutdown || pool_start_worker(p) < 0)) {
            intptr_t err = p->shutdown ? -ESHUTDOWN : -EAGAIN;
            pthread_mutex_unlock(&p->mu);
            fail_batch(loop, l, err);
            continue;
        }
        if (p->tail)
            p->tail->next = l->batch_head;
        else
            p->head = l->batch_head;
        p->tail = tail;
        p->queued += l->batch_n;
        pool_publish_queued(p);
        size_t k = pool_staff(p, l->batch_n, wake, 64);
        pthread_mutex_unlock(&p->mu);
        pool_signal(wake, k);
        l->batch_head = NULL;
        l->batch_tailp = &l->batch_head;
        l->batch_n = 0;
    }
}

void pool_deliver(tt_loop *loop, inbox_node *n)
{
    job *j = TT_CONTAINER_OF(n, job, in);
    loop->jobs_inflight--;
    tt_future *f = &j->fut;
    if (j->state == J_DEQUEUED) {
        if (f->state != FS_DONE) /* a shutdown's cancel: tt_cancel settled the others */
            future_complete_cancelled(f, NULL);
    } else if (f->state == FS_DONE || j->cancel_requested) {
        /* Abandoned, or asked to stop while it ran: nobody will read this result. */
        if (f->state != FS_DONE)
            future_complete_cancelled(f, NULL);
        const tt_job_opts *o = job_opts(j);
        if (o && o->discard)
            o->discard(j->result, j->arg);
    } else {
        future_complete(f, j->result);
    }
    live_add(LIVE_JOBS, -1);
    tt_unref(f); /* the in-flight reference */
}

void pool_detach_loop(tt_loop *loop)
{
    pool_flush(loop);
    for (pool_link *l = loop->links, *next; l; l = next) {
        next = l->next_in_loop;
        tt_pool *p = l->pool;
        job *cancelled = NULL;
        pthread_mutex_lock(&p->mu);
        for (pool_link **pp = &p->links; *pp; pp = &(*pp)->next_in_pool)
            if (*pp == l) {
                *pp = l->next_in_pool;
                break;
            }
        bool last = p->freed && !p->links;
        job **pp = &p->head;
        p->tail = NULL;
        while (*pp) {
            job *j = *pp;
            if (j->fut.loop != loop) {
                p->tail = j;
                pp = &j->next;
                continue;
            }
            *pp = j->next;
            if (j->state != J_DEQUEUED) {
                j->state = J_DEQUEUED;
                p->queued--;
                p->cancelled++;
            }
            j->next = cancelled;
            cancelled = j;
        }
        pool_publish_queued(p);
        for (worker *w = p->all_workers; w; w = w->all_next) {
            job *j = w->current;
            if (j && j->fut.loop == loop && !j->orphan) {
                /* Left to finish (no thread is killed) and asked to stop; its in-flight
                 * reference now belongs to the worker (orphan_finished). No unblock: the worker
                 * may already be discarding arg, and nothing orders the two any more. The
                 * future is settled under the lock because the worker may take the job over
                 * the moment it is released (settling runs no user code). */
                j->orphan = 1;
                j->cancel_requested = 1;
                atomic_store_explicit(&j->stop, 1, memory_order_relaxed);
                loop->jobs_inflight--;
                if (j->fut.state != FS_DONE)
                    future_complete_cancelled(&j->fut, NULL);
            }
        }
        pthread_mutex_unlock(&p->mu);
        for (job *j = cancelled, *jn; j; j = jn) {
            jn = j->next;
            loop->jobs_inflight--;
            if (j->fut.state != FS_DONE)
                future_complete_cancelled(&j->fut, NULL);
            live_add(LIVE_JOBS, -1);
            tt_unref(&j->fut);
        }
        if (last) /* tt_pool_free has returned: it was waiting for this link */
            free_pool_now(p);
    }
}

void pool_forget(tt_loop *loop, tt_pool *p)
{
    for (pool_link **lp = &loop->links; *lp; lp = &(*lp)->next_in_loop) {
        pool_link *l = *lp;
        if (l->pool != p)
            continue;
        pthread_mutex_lock(&p->mu);
        bool busy = l->nwaiters || l->batch_n || l->room_msg_queued;
        if (!busy)
            for (pool_link **pp = &p->links; *pp; pp = &(*pp)->next_in_pool)
                if (*pp == l) {
                    *pp = l->next_in_pool;
                    break;
                }
        pthread_mutex_unlock(&p->mu);
        if (busy)
            return; /* still referred to: it goes with the loop */
        *lp = l->next_in_loop;
        free(l->waiters);
        free(l);
        return;
    }
}

void pool_links_free(tt_loop *loop)
{
    for (pool_link *l = loop->links, *next; l; l = next) {
        next = l->next_in_loop;
        for (size_t i = 0; i < l->nwaiters; i++)
            tt_unref(l->waiters[i]);
        free(l->waiters);
        free(l);
    }
    loop->links = NULL;
}

void pool_room(tt_loop *loop, inbox_node *n)
{
    pool_link *l = TT_CONTAINER_OF(n, pool_link, room_in);
    (void)loop;
    pthread_mutex_lock(&l->pool->mu);
    l->room_msg_queued = 0;
    pthread_mutex_unlock(&l->pool->mu);
    size_t k = l->nwaiters;
    l->nwaiters = 0;
    for (size_t i = 0; i < k; i++) {
        future_complete(l->waiters[i], 0);
        tt_unref(l->waiters[i]);
    }
}

/* Suspends the current task until the pool's bounded queue has room (counting this loop's own
 * batch). 0, -ECANCELED, -ENOMEM. */
static int wait_for_room(tt_loop *loop, tt_pool *p)
{
    pool_link *l = link_for(loop, p);
    if (!l)
        return -ENOMEM;
    for (;;) {
        pool_flush(loop);
        pthread_mutex_lock(&p->mu);
        int full = p->queued >= p->queue_limit && !p->shutdown;
        if (full)
            l->room_wanted = 1;
        pthread_mutex_unlock(&p->mu);
        if (!full)
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

static tt_future *submit(tt_pool *pool, const tt_job_opts *o, tt_fn fn, void *arg, bool may_wait)
{
    tt_loop *loop = tls_loop;
    if (!loop || loop->closing) {
        errno = EPERM;
        return NULL;
    }
    if (!fn || (o && (o->flags & ~TT_ABANDON_ON_CANCEL))) {
        errno = EINVAL;
        return NULL;
    }
    tt_pool *p = pool ? pool : pool_default(loop);
    if (!p)
        return NULL;
    pool_link *l = loop->links && loop->links->pool == p ? loop->links : link_for(loop, p);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    if (atomic_load_explicit(&p->threads_hint, memory_order_relaxed) == 0 || p->queue_limit) {
        pthread_mutex_lock(&p->mu);
        int rc = p->shutdown ? -ESHUTDOWN : 0;
        if (!rc && p->threads == 0 && (rc = pool_start_worker(p)) < 0)
            rc = -EAGAIN; /* no thread could start: nothing would ever run this job */
        bool full = !rc && p->queue_limit && p->queued >= p->queue_limit;
        pthread_mutex_unlock(&p->mu);
        if (rc) {
            errno = -rc;
            return NULL;
        }
        if (full) {
            if (!may_wait || !task_current()) {
                errno = EAGAIN;
                return NULL;
            }
            rc = wait_for_room(loop, p);
            if (rc) {
                errno = -rc;
                return NULL;
            }
        }
    } else if (__atomic_load_n(&p->shutdown, __ATOMIC_RELAXED)) { /* unlocked: a late shutdown is met at the flush */
        errno = ESHUTDOWN;
        return NULL;
    }
    job *j = future_alloc(loop, sizeof(job) + (o ? sizeof(tt_job_opts) : 0), &job_ops);
    if (!j) {
        errno = ENOMEM;
        return NULL;
    }
    j->fut.refs = 2; /* the caller's, and the in-flight one dropped at delivery */
    j->in.kind = IN_JOB;
    j->pool = p;
    j->fn = fn;
    j->arg = arg;
    if (o) {
        j->opts[0] = *o;
        j->has_opts = 1;
    }
    j->state = J_QUEUED;
    j->next = NULL;
    *l->batch_tailp = j;
    l->batch_tailp = &j->next;
    l->batch_n++;
    loop->submit_pending++;
    loop->jobs_inflight++;
    live_add(LIVE_JOBS, 1);
    if (p->queue_limit)
        pool_flush(loop); /* a bounded queue must count it now */
    return &j->fut;
}

tt_future *tt_to_thread(tt_fn fn, void *arg) { return submit(NULL, NULL, fn, arg, true); }

tt_future *tt_to_thread_on(tt_pool *pool, const tt_job_opts *o, tt_fn fn, void *arg)
{
    return submit(pool, o, fn, arg, true);
}

tt_future *tt_try_to_thread(tt_pool *pool, tt_fn fn, void *arg)
{
    return submit(pool, NULL, fn, arg, false);
}

static int job_cancel_op(tt_future *f, const char *msg)
{
    job *j = (job *)f;
    pool_flush(f->loop); /* so that a queued job is in its pool's queue, under its lock */
    tt_pool *p = j->pool;
    pthread_mutex_lock(&p->mu);
    if (j->state == J_QUEUED) {
        j->state = J_DEQUEUED; /* a worker meeting it hands it back unrun */
        p->queued--;
        p->cancelled++;
        pool_publish_queued(p);
        pool_announce_room(p);
        pthread_mutex_unlock(&p->mu);
        future_complete_cancelled(f, msg); /* it never ran and never will: cancelled now */
        return 1;
    }
    int first = !j->cancel_requested;
    if (j->state == J_RUNNING || j->state == J_FINISHED) {
        atomic_store_explicit(&j->stop, 1, memory_order_relaxed);
        if (first && j->state == J_FINISHED) {
            p->completed--; /* finished, but its result will be discarded now */
            p->cancelled++;
        }
        j->cancel_requested = 1;
    }
    int running = j->state == J_RUNNING;
    pthread_mutex_unlock(&p->mu);
    if (!j->cancel_requested)
        return 0; /* dequeued by a shutdown: its cancellation is already on its way */
    if (msg && !f->cancel_msg)
        f->cancel_msg = strdup(msg);
    const tt_job_opts *o = job_opts(j);
    if (first && running && o && o->unblock)
        o->unblock(j->arg);
    if (o && (o->flags & TT_ABANDON_ON_CANCEL))
        future_complete_cancelled(f, msg);
    return 1;
}
