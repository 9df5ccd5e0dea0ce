/* The worker pool behind tt_to_thread: threads started on demand up to a maximum and retired
 * when idle, one FIFO queue under one mutex (jobs submitted during a loop turn arrive as one
 * batch), completions sent back through each loop's lock-free inbox, and cancellation that never
 * lets a running job's memory go (DESIGN.md "Offloading blocking calls"). */
#include "internal.h"

#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <time.h>

#define WORKER_SPIN_NS 50000 /* a worker that just finished waits this long for more work */
#define DEFAULT_MAX 64
#define DEFAULT_IDLE TT_SEC(10)

/* J_QUEUED: in the loop's batch or the pool's queue. J_DEQUEUED: cancelled before it ran; it
 * may still sit in the queue (removal is lazy, so the queue is a singly linked list a batch
 * joins in O(1)); a worker meeting it sends it back to its loop without running it. */
enum { J_QUEUED = 1, J_RUNNING, J_FINISHED, J_DEQUEUED };

struct job {
    tt_future fut;
    inbox_node in;           /* completion message to the loop */
    struct job *next;        /* the loop's batch, then the pool's queue (pool lock) */
    tt_pool *pool;
    tt_loop *loop;
    tt_fn fn;
    void *arg;
    intptr_t result;         /* written by the worker before it sends the message */
    tt_job_opts opts;
    int state;               /* pool lock once handed over */
    atomic_int stop;         /* tt_job_cancelled() */
    uint8_t cancel_requested;
    uint8_t orphan;          /* pool lock: its loop was freed while it ran */
    struct job *grave_next;  /* the loop's graveyard (shell_mu); lists in pool_detach_loop */
};

typedef struct worker {
    struct worker *next_idle;
    struct worker *all_prev, *all_next; /* every live worker (pool lock) */
    pthread_cond_t cv;
    int wake;
    job *current;
    tt_pool *pool;
    unsigned n;
} worker;

/* One per (loop, pool) pair: where room notifications go and what loop free walks. */
typedef struct pool_link {
    struct pool_link *next_in_loop;
    struct pool_link *next_in_pool; /* pool lock */
    tt_pool *pool;
    tt_loop *loop;
    inbox_node room_in;
    int room_wanted;                /* pool lock */
    int room_msg_queued;            /* pool lock */
    tt_future **waiters;            /* loop side: tasks waiting for room, FIFO */
    size_t nwaiters, capwaiters;
    job *batch_head, **batch_tailp; /* loop side: submitted during this turn */
    size_t batch_n;
} pool_link;

struct tt_pool {
    pthread_mutex_t mu;
    pthread_cond_t idle_cv; /* shutdown and free wait on it */
    job *head, *tail;
    size_t queued;
    atomic_size_t queued_hint; /* for spinning workers, read without the lock */
    atomic_int spinning;
    worker *idle_stack;
    worker *all_workers;
    unsigned threads, idle, running, next_n;
    atomic_uint threads_hint;
    size_t completed, cancelled;
    int shutdown;
    int free_when_idle;
    atomic_int attached; /* loops using it as their default */
    pool_link *links;
    unsigned min_threads, max_threads;
    int64_t idle_timeout;
    size_t queue_limit, stack_size;
    char name[12];
};

static _Thread_local job *tls_job;

static int job_cancel_op(tt_future *f, const char *msg);
static const future_ops job_ops = {FK_JOB, "job", job_cancel_op, NULL};

/* ------------------------------------------------------------------ the queue */

/* Takes the first entry off the queue (live or lazily dequeued); p->queued is the caller's. */
static job *queue_shift(tt_pool *p)
{
    job *j = p->head;
    if (j && !(p->head = j->next))
        p->tail = NULL;
    return j;
}

static void publish_queued(tt_pool *p)
{
    atomic_store_explicit(&p->queued_hint, p->queued, memory_order_relaxed);
}

/* Called with the lock held after the queue shrank: tells waiting loops there is room. */
static void announce_room(tt_pool *p)
{
    if (!p->queue_limit || p->queued >= p->queue_limit)
        return;
    for (pool_link *l = p->links; l; l = l->next_in_pool)
        if (l->room_wanted && !l->room_msg_queued) {
            l->room_wanted = 0;
            l->room_msg_queued = 1;
            inbox_push(l->loop, &l->room_in);
        }
}

/* ------------------------------------------------------------------- workers */

static void *worker_main(void *arg);

static void timespec_after(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    int64_t n = ts->tv_nsec + ns % 1000000000;
    ts->tv_sec += ns / 1000000000 + n / 1000000000;
    ts->tv_nsec = n % 1000000000;
}

/* Starts one worker; called with the lock held. Signals are blocked in workers so that the
 * application's handlers run on its own threads. */
static int start_worker(tt_pool *p)
{
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) {
        free(w);
        return -ENOMEM;
    }
    w->pool = p;
    w->n = ++p->next_n;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, p->stack_size);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    rc = pthread_create(&th, &attr, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc) {
        pthread_cond_destroy(&w->cv);
        free(w);
        return -rc;
    }
    char name[16];
    snprintf(name, sizeof name, "%s-%u", p->name, w->n);
    pthread_setname_np(th, name);
    p->threads++;
    w->all_next = p->all_workers;
    if (p->all_workers)
        p->all_workers->all_prev = w;
    p->all_workers = w;
    atomic_store_explicit(&p->threads_hint, p->threads, memory_order_relaxed);
    return 0;
}

/* Wakes sleeping workers for n new jobs and starts threads for what they cannot take. */
static void staff(tt_pool *p, size_t n)
{
    size_t spinning = (size_t)atomic_load_explicit(&p->spinning, memory_order_relaxed);
    n = n > spinning ? n - spinning : 0;
    while (n && p->idle_stack) {
        worker *w = p->idle_stack;
        p->idle_stack = w->next_idle;
        w->wake = 1;
        pthread_cond_signal(&w->cv);
        n--;
    }
    while (n-- && p->threads < p->max_threads)
        if (start_worker(p) < 0)
            break;
}

static void free_pool_now(tt_pool *p);

/* A job whose loop is gone: its result goes to discard here, on the worker; its memory (in the
 * loop's shell) is released under the shell's lock, by this worker if the loop has closed. */
static void orphan_finished(job *j)
{
    if (j->opts.discard)
        j->opts.discard(j->result, j->arg);
    tt_loop *loop = j->loop;
    pthread_mutex_lock(&loop->shell_mu);
    loop->shell_depth++;
    j->grave_next = loop->graveyard;
    loop->graveyard = j;
    if (loop->closed)
        pool_bury_locked(loop);
    bool gone = --loop->shell_depth == 0 && loop->closed && loop->live_futures == 0;
    pthread_mutex_unlock(&loop->shell_mu);
    if (gone)
        loop_shell_free(loop);
}

void pool_bury_locked(tt_loop *loop)
{
    while (loop->graveyard) {
        job *j = loop->graveyard;
        loop->graveyard = j->grave_next;
        live_add(LIVE_JOBS, -1);
        if (--j->fut.refs == 0)
            future_release(&j->fut);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    tt_pool *p = w->pool;
    /* Blocking calls with timeouts (sleeps, polls) wake when asked, not up to 50 us late. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        job *j;
        while ((j = queue_shift(p)) && j->state == J_DEQUEUED)
            inbox_push(j->loop, &j->in); /* cancelled while queued: its loop lets it go */
        if (j) {
            p->queued--;
            publish_queued(p);
            announce_room(p);
            j->state = J_RUNNING;
            w->current = j;
            p->running++;
            pthread_mutex_unlock(&p->mu);

            tls_job = j;
            intptr_t r = j->fn(j->arg);
            tls_job = NULL;

            pthread_mutex_lock(&p->mu);
            j->result = r;
            j->state = J_FINISHED;
            w->current = NULL;
            p->running--;
            if (j->orphan || j->cancel_requested) /* orphan first: see pool_detach_loop */
                p->cancelled++; /* its result goes to discard, never to a reader */
            else
                p->completed++;
            if (j->orphan) {
                pthread_mutex_unlock(&p->mu);
                orphan_finished(j);
                pthread_mutex_lock(&p->mu);
                continue;
            }
            /* The loop cannot go away while it has a job in flight, so the message is safe to
             * send; the lock keeps tt_cancel's view of the state exact. */
            inbox_push(j->loop, &j->in);
            continue;
        }
        if (p->shutdown)
            break;
        /* Nothing queued: stay awake a little in case the loop sends more right away. */
        atomic_fetch_add(&p->spinning, 1);
        pthread_mutex_unlock(&p->mu);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned i = 1;; i++) {
            if (atomic_load_explicit(&p->queued_hint, memory_order_relaxed))
                break;
            cpu_relax();
            if ((i & 63) == 0) {
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if ((t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec) >
                    WORKER_SPIN_NS)
                    break;
            }
        }
        pthread_mutex_lock(&p->mu);
        atomic_fetch_sub(&p->spinning, 1);
        if (p->head || p->shutdown)
            continue;
        w->wake = 0;
        w->next_idle = p->idle_stack;
        p->idle_stack = w;
        p->idle++;
        struct timespec dl;
        if (p->idle_timeout >= 0)
            timespec_after(&dl, p->idle_timeout);
        int rc = 0;
        while (!w->wake && !p->shutdown && rc == 0)
            rc = p->idle_timeout < 0 ? pthread_cond_wait(&w->cv, &p->mu)
                                     : pthread_cond_timedwait(&w->cv, &p->mu, &dl);
        p->idle--;
        if (!w->wake) { /* still on the idle stack: take it off */
            for (worker **pp = &p->idle_stack; *pp; pp = &(*pp)->next_idle)
                if (*pp == w) {
                    *pp = w->next_idle;
                    break;
                }
        }
        if (rc != 0 && !w->wake && !p->head && p->threads > p->min_threads)
            break; /* idle for idle_timeout: retire */
    }
    p->threads--;
    if (w->all_prev)
        w->all_prev->all_next = w->all_next;
    else
        p->all_workers = w->all_next;
    if (w->all_next)
        w->all_next->all_prev = w->all_prev;
    atomic_store_explicit(&p->threads_hint, p->threads, memory_order_relaxed);
    pthread_cond_broadcast(&p->idle_cv);
    int last = p->threads == 0 && p->free_when_idle;
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    if (last)
        free_pool_now(p);
    return NULL;
}

/* --------------------------------------------------------------------- pools */

tt_pool *tt_pool_new(const tt_pool_opts *o)
{
    tt_pool_opts d = {0};
    if (o)
        d = *o;
    if (!o || !o->max_threads) {
        const char *env = getenv("TT_POOL_MAX");
        long v = env ? strtol(env, NULL, 10) : 0;
        d.max_threads = v > 0 && v <= 4096 ? (unsigned)v : DEFAULT_MAX;
    }
    if (d.min_threads > d.max_threads || d.idle_timeout < -1) {
        errno = EINVAL;
        return NULL;
    }
    tt_pool *p = calloc(1, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines come from timespec_after */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    /* Hold times are a few dozen instructions: spinning briefly beats sleeping in the kernel. */
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    int bad = pthread_mutex_init(&p->mu, &ma) != 0 || pthread_cond_init(&p->idle_cv, &ca) != 0;
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_destroy(&ca);
    if (bad) {
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    p->min_threads = d.min_threads;
    p->max_threads = d.max_threads;
    p->idle_timeout = d.idle_timeout < 0 ? TT_FOREVER : d.idle_timeout ? d.idle_timeout : DEFAULT_IDLE;
    p->queue_limit = d.queue_limit;
    p->stack_size = d.thread_stack_size ? d.thread_stack_size : 8u << 20;
    snprintf(p->name, sizeof p->name, "%s", d.name && *d.name ? d.name : "tt-worker");
    pthread_mutex_lock(&p->mu);
    for (unsigned i = 0; i < p->min_threads; i++)
        if (start_worker(p) < 0)
            break;
    int ok = p->threads == p->min_threads;
    pthread_mutex_unlock(&p->mu);
    live_add(LIVE_POOLS, 1);
    if (!ok) {
        tt_pool_free(p);
        errno = EAGAIN;
        return NULL;
    }
    return p;
}

static void free_pool_now(tt_pool *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->idle_cv);
    live_add(LIVE_POOLS, -1);
    free(p);
}

/* Sends every queued job back to its loop as cancelled (lock held). */
static void cancel_queued_locked(tt_pool *p)
{
    job *j;
    while ((j = queue_shift(p))) {
        if (j->state != J_DEQUEUED) {
            j->state = J_DEQUEUED;
            p->cancelled++;
        }
        inbox_push(j->loop, &j->in);
    }
    p->queued = 0;
    publish_queued(p);
    announce_room(p);
}

int tt_pool_shutdown(tt_pool *p, int64_t timeout, unsigned flags)
{
    if (!p || (flags & ~TT_POOL_CANCEL_QUEUED))
        return -EINVAL;
    pthread_mutex_lock(&p->mu);
    p->shutdown = 1;
    if ((flags & TT_POOL_CANCEL_QUEUED) || p->threads == 0)
        cancel_queued_locked(p);
    for (worker *w = p->idle_stack; w; w = w->next_idle) {
        w->wake = 1;
        pthread_cond_signal(&w->cv);
    }
    p->idle_stack = NULL;
    struct timespec dl;
    if (timeout >= 0)
        timespec_after(&dl, timeout);
    int rc = 0;
    /* Queued jobs still run (unless cancelled above): workers leave only once it is empty. */
    while ((p->running || p->head) && rc == 0) {
        if (timeout < 0)
            pthread_cond_wait(&p->idle_cv, &p->mu);
        else
            rc = pthread_cond_timedwait(&p->idle_cv, &p->mu, &dl) ? -ETIMEDOUT : 0;
    }
    if (!p->running && !p->head)
        rc = 0;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int tt_pool_free(tt_pool *p)
{
    if (!p)
        return -EINVAL;
    pthread_mutex_lock(&p->mu);
    int busy = atomic_load(&p->attached) > 0 || p->links;
    pthread_mutex_unlock(&p->mu);
    if (busy)
        return -EBUSY;
    tt_pool_shutdown(p, TT_FOREVER, 0);
    pthread_mutex_lock(&p->mu);
    while (p->threads)
        pthread_cond_wait(&p->idle_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    free_pool_now(p);
    return 0;
}

int tt_pool_stats_get(tt_pool *p, tt_pool_stats *out)
{
    if (!p || !out)
        return -EINVAL;
    pthread_mutex_lock(&p->mu);
    out->threads = p->threads;
    out->idle = p->idle + (unsigned)atomic_load(&p->spinning);
    out->running = p->running;
    out->queued = p->queued;
    out->completed = p->completed;
    out->cancelled = p->cancelled;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void pool_attach_default(tt_pool *pool) { atomic_fetch_add(&pool->attached, 1); }

tt_pool *pool_default(tt_loop *loop)
{
    if (!loop->pool) {
        loop->pool = tt_pool_new(NULL);
        if (!loop->pool)
            return NULL;
        loop->pool_owned = true;
        pool_attach_default(loop->pool);
    }
    return loop->pool;
}

void pool_release_default(tt_loop *loop, int64_t timeout)
{
    tt_pool *p = loop->pool;
    if (!p)
        return;
    loop->pool = NULL;
    atomic_fetch_sub(&p->attached, 1);
    if (!loop->pool_owned)
        return;
    if (tt_pool_shutdown(p, timeout, TT_POOL_CANCEL_QUEUED) == 0) {
        tt_pool_free(p);
        return;
    }
    /* Jobs still run: the last worker to leave frees the pool. */
    pthread_mutex_lock(&p->mu);
    int now = p->threads == 0;
    p->free_when_idle = !now;
    pthread_mutex_unlock(&p->mu);
    if (now)
        free_pool_now(p);
}

/* ------------------------------------------------------------------ loop side */

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
        pthread_mutex_lock(&p->mu);
        if (p->tail)
            p->tail->next = l->batch_head;
        else
            p->head = l->batch_head;
        p->tail = tail;
        p->queued += l->batch_n;
        publish_queued(p);
        staff(p, l->batch_n);
        pthread_mutex_unlock(&p->mu);
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
        if (j->opts.discard)
            j->opts.discard(j->result, j->arg);
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
        job **pp = &p->head;
        p->tail = NULL;
        while (*pp) {
            job *j = *pp;
            if (j->loop != loop) {
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
            j->grave_next = cancelled;
            cancelled = j;
        }
        publish_queued(p);
        for (worker *w = p->all_workers; w; w = w->all_next) {
            job *j = w->current;
            if (j && j->loop == loop && !j->orphan) {
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
            jn = j->grave_next;
            loop->jobs_inflight--;
            if (j->fut.state != FS_DONE)
                future_complete_cancelled(&j->fut, NULL);
            live_add(LIVE_JOBS, -1);
            tt_unref(&j->fut);
        }
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
        if (!rc && p->threads == 0 && (rc = start_worker(p)) < 0)
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
    } else if (p->shutdown) {
        errno = ESHUTDOWN;
        return NULL;
    }
    job *j = future_alloc(loop, sizeof(job), &job_ops);
    if (!j) {
        errno = ENOMEM;
        return NULL;
    }
    j->fut.refs = 2; /* the caller's, and the in-flight one dropped at delivery */
    j->in.kind = IN_JOB;
    j->pool = p;
    j->loop = loop;
    j->fn = fn;
    j->arg = arg;
    if (o)
        j->opts = *o;
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

int tt_job_cancelled(void)
{
    job *j = tls_job;
    return j && atomic_load_explicit(&j->stop, memory_order_relaxed);
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
        publish_queued(p);
        announce_room(p);
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
    if (first && running && j->opts.unblock)
        j->opts.unblock(j->arg);
    if (j->opts.flags & TT_ABANDON_ON_CANCEL)
        future_complete_cancelled(f, msg);
    return 1;
}
