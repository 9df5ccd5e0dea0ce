/* The worker pool behind tt_to_thread, thread side: workers started on demand up to a maximum
 * and retired when idle, one FIFO queue under one mutex, completions sent back through each
 * loop's lock-free inbox, and the pool's life cycle (new, shutdown, free, stats). The loop side
 * (submitting, delivering, cancelling) is offload.c. */
#include "internal.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <time.h>

#define WORKER_SPIN_NS 50000 /* a worker that just finished waits this long for more work */
#define MAX_SPINNERS 1
#define DEFAULT_MAX 64
#define DEFAULT_IDLE TT_SEC(10)

static _Thread_local job *tls_job;

/* ------------------------------------------------------------------ the queue */

/* Takes the first entry off the queue (live or lazily dequeued); p->queued is the caller's. */
static job *queue_shift(tt_pool *p)
{
    job *j = p->head;
    if (j && !(p->head = j->next))
        p->tail = NULL;
    return j;
}

void pool_publish_queued(tt_pool *p)
{
    atomic_store_explicit(&p->queued_hint, p->queued, memory_order_relaxed);
}

/* Called with the lock held after the queue shrank: tells waiting loops there is room. */
void pool_announce_room(tt_pool *p)
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
int pool_start_worker(tt_pool *p)
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
size_t pool_staff(tt_pool *p, size_t n, worker **wake, size_t nwake)
{
    size_t spinning = (size_t)atomic_load_explicit(&p->spinning, memory_order_relaxed);
    size_t k = 0;
    n = n > spinning ? n - spinning : 0;
    while (n && p->idle_stack) {
        worker *w = p->idle_stack;
        p->idle_stack = w->next_idle;
        w->wake = 1;
        if (k < nwake) {
            /* Signalled by the caller once the lock is released: a worker woken under the lock
             * would only block on it (64 of them convoy for milliseconds). */
            atomic_fetch_add_explicit(&w->signals_in_flight, 1, memory_order_relaxed);
            wake[k++] = w;
        } else {
            pthread_cond_signal(&w->cv);
        }
        n--;
    }
    while (n-- && p->threads < p->max_threads)
        if (pool_start_worker(p) < 0)
            break;
    return k;
}

void pool_signal(worker **wake, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        worker *w = wake[i];
        pthread_cond_signal(&w->cv);
        atomic_fetch_sub_explicit(&w->signals_in_flight, 1, memory_order_release);
    }
}


/* A job whose loop is gone: its result goes to discard here, on the worker; its memory (in the
 * loop's shell) is released under the shell's lock, by this worker if the loop has closed. */
static void orphan_finished(job *j)
{
    const tt_job_opts *o = job_opts(j);
    if (o && o->discard)
        o->discard(j->result, j->arg);
    tt_loop *loop = j->fut.loop;
    pthread_mutex_lock(&loop->shell_mu);
    loop->shell_depth++;
    j->next = loop->graveyard;
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
        loop->graveyard = j->next;
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
            inbox_push(j->fut.loop, &j->in); /* cancelled while queued: its loop lets it go */
        if (j) {
            p->queued--;
            pool_publish_queued(p);
            pool_announce_room(p);
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
            inbox_push(j->fut.loop, &j->in);
            continue;
        }
        if (p->shutdown)
            break;
        /* Nothing queued: one worker stays awake a little in case the loop sends more right
         * away. Only one: on a small machine, many spinning workers would take the CPU the
         * loop needs to collect their results. The count is changed under the lock. */
        if (atomic_load_explicit(&p->spinning, memory_order_relaxed) < MAX_SPINNERS) {
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
        }
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
    /* A loop may still be signalling us after its unlock: wait for it to let go of w. */
    while (atomic_load_explicit(&w->signals_in_flight, memory_order_acquire))
        sched_yield();
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
    /* Any negative idle_timeout means "no limit", as every duration; a stack larger than the
     * address space could never be mapped (every job would fail with EAGAIN). */
    if (d.min_threads > d.max_threads || d.thread_stack_size > (size_t)1 << 47) {
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
        if (pool_start_worker(p) < 0)
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

void free_pool_now(tt_pool *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->idle_cv);
    live_add(LIVE_POOLS, -1);
    free(p);
}

/* Whether the caller is a job running on p (which waiting for p's jobs would deadlock). */
static bool on_own_worker(const tt_pool *p) { return tls_job && tls_job->pool == p; }

/* Sends every queued job back to its loop as cancelled (lock held). */
static void cancel_queued_locked(tt_pool *p)
{
    job *j;
    while ((j = queue_shift(p))) {
        if (j->state != J_DEQUEUED) {
            j->state = J_DEQUEUED;
            p->cancelled++;
        }
        inbox_push(j->fut.loop, &j->in);
    }
    p->queued = 0;
    pool_publish_queued(p);
    pool_announce_room(p);
}

int tt_pool_shutdown(tt_pool *p, int64_t timeout, unsigned flags)
{
    if (!p || (flags & ~TT_POOL_CANCEL_QUEUED))
        return -EINVAL;
    if (timeout != 0 && on_own_worker(p))
        return -EDEADLK; /* it would wait for the caller's own job */
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->shutdown, 1, __ATOMIC_RELAXED); /* submit reads it without the lock */
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
    if (on_own_worker(p))
        return -EDEADLK;
    if (atomic_load(&p->attached) > 0)
        return -EBUSY;
    if (tls_loop)
        pool_flush(tls_loop); /* this loop's batched jobs run before the shutdown completes */
    tt_pool_shutdown(p, TT_FOREVER, 0);
    pthread_mutex_lock(&p->mu);
    while (p->threads)
        pthread_cond_wait(&p->idle_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    if (tls_loop)
        pool_forget(tls_loop, p);
    /* Loops of other threads that submitted to it keep a link into it (their thread alone
     * may touch it): the last of them to be freed frees the pool's memory. */
    pthread_mutex_lock(&p->mu);
    bool later = p->links != NULL;
    p->freed = later;
    pthread_mutex_unlock(&p->mu);
    if (!later)
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

int tt_job_cancelled(void)
{
    job *j = tls_job;
    return j && atomic_load_explicit(&j->stop, memory_order_relaxed);
}
