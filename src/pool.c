/* The worker pool behind tt_to_thread: workers started on demand up to a maximum and retired
 * when idle, one FIFO queue under one mutex, completions sent back through each loop's inbox, the
 * pool's life cycle (new, shutdown, free, stats), and the handful of pool_* calls the loop side
 * (offload.c) makes. It and pool_watch.c (the pool's observability) are the only files that see
 * inside tt_pool: its structures are in pool_impl.h, which no other file includes. */
#include "pool_impl.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <time.h>

#define WORKER_SPIN_MIN 1000 /* a spin shorter than this is not worth starting */
#define MAX_SPINNERS 1
#define DEFAULT_MAX 64
#define DEFAULT_IDLE TT_SEC(10)

static _Thread_local job *tls_job;

/* ------------------------------------------------------------------ the queue */

/* The queue is empty: no batch is waiting for more workers. Stored only when set, so a drain does
 * not dirty the line every loop with jobs in flight reads. */
static void clear_short(tt_pool *p)
{
    if (atomic_load_explicit(&p->short_since, memory_order_relaxed))
        atomic_store_explicit(&p->short_since, 0, memory_order_relaxed);
}

/* Takes the first entry off the queue (live or lazily dequeued); p->queued is the caller's. */
static job *queue_shift(tt_pool *p)
{
    job *j = p->head;
    if (j && !(p->head = j->next)) {
        p->tail = NULL;
        clear_short(p); /* drained */
    }
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
    for (pool_client *c = p->clients; c; c = c->next)
        if (c->room_wanted && !c->room_msg_queued) {
            c->room_wanted = 0;
            c->room_msg_queued = 1;
            inbox_push(c->loop, c->room_notice);
        }
}

/* ------------------------------------------------------------------- workers */

static void *worker_main(void *arg);

/* Starts one worker; called with the lock held. Signals are blocked in workers so that the
 * application's handlers run on its own threads. */
static int start_worker(tt_pool *p)
{
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    int rc = cond_init_monotonic(&w->cv);
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
    snprintf(w->tname, sizeof w->tname, "%s-%u", p->name, w->n);
    pthread_setname_np(th, w->tname);
    w->th = th;
    p->threads++;
    w->all_next = p->all_workers;
    if (p->all_workers)
        p->all_workers->all_prev = w;
    p->all_workers = w;
    atomic_store_explicit(&p->threads_hint, p->threads, memory_order_relaxed);
    return 0;
}

/* The workers n queued jobs need: one per job when jobs take as long as a wake-up (or nothing
 * is known yet), else as many as run the batch in about one wake-up's time. On two vCPUs shared
 * by the loop, a client and four workers, waking all four for a batch of 1 us checksums cost W9
 * a quarter of its requests/s and doubled its p99: every woken thread took the CPU from the
 * loop for a job or two. */
static size_t workers_needed(const tt_pool *p, size_t n)
{
    if (p->run_est_ns >= STAFF_WAKE_NS)
        return n;
    size_t k = (size_t)(((uint64_t)n * (uint64_t)p->run_est_ns + STAFF_WAKE_NS - 1) /
                        STAFF_WAKE_NS);
    return k ? (k < n ? k : n) : 1;
}

/* A timed job's run time. The estimate at most doubles (+1 us) per longer sample, so a job of
 * a slow kind counts after a few samples while one preempted short job (a timed 1 us job that
 * lost its CPU for a 3 ms slice) barely moves it; it decays towards shorter ones by 1/8. */
static void note_run_time(tt_pool *p, int64_t ns)
{
    int64_t est = p->run_est_ns;
    if (est == STAFF_UNKNOWN)
        p->run_est_ns = ns;
    else if (ns > est)
        p->run_est_ns = ns < 2 * est + 1000 ? ns : 2 * est + 1000;
    else
        p->run_est_ns = est - (est - ns) / 8;
}

/* Wakes sleeping workers for n new jobs (all that want one when all_of_them) and starts
 * threads for what they cannot take. Notes when sleeping workers were left idle while jobs
 * wait: the loops check that the batch drained in time (pool_check_staff). */
static size_t staff(tt_pool *p, size_t n, bool all_of_them, worker **wake, size_t nwake)
{
    size_t spinning = (size_t)atomic_load_explicit(&p->spinning, memory_order_relaxed);
    size_t k = 0;
    size_t want = all_of_them ? n : workers_needed(p, n);
    if (want < n && (p->idle_stack || p->threads < p->max_threads) &&
        !atomic_load_explicit(&p->short_since, memory_order_relaxed))
        atomic_store_explicit(&p->short_since, clock_now(), memory_order_relaxed);
    n = want > spinning ? want - spinning : 0;
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
        if (start_worker(p) < 0)
            break;
    return k;
}

static void signal_workers(worker **wake, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        worker *w = wake[i];
        pthread_cond_signal(&w->cv);
        atomic_fetch_sub_explicit(&w->signals_in_flight, 1, memory_order_release);
    }
}

static void free_pool_now(tt_pool *p);

/* A job whose loop is gone: its result goes to discard here, on the worker; its memory (in the
 * loop's shell) is released by the shell. */
static void orphan_finished(job *j)
{
    const tt_job_opts *o = job_opts(j);
    if (o && o->discard)
        o->discard(j->result, j->arg);
    shell_bury_job(j);
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
            publish_queued(p);
            announce_room(p);
            j->state = J_RUNNING;
            w->current = j;
            w->seq++;
            p->running++;
            pthread_mutex_unlock(&p->mu);

            /* Timed (start != 0): the first of every TT_POOL_SAMPLE jobs of this worker. Timing
             * every job cost W1 ~12 % (clock reads, histogram updates); the countdown costs two
             * instructions a job. */
            int64_t start = 0;
            if (TT_UNLIKELY(--w->untimed < 0)) {
                w->untimed = TT_POOL_SAMPLE - 1;
                start = clock_now();
                atomic_store_explicit(&w->t0, start, memory_order_relaxed);
            }
            bool intr = job_opts(j) && (job_opts(j)->flags & TT_JOB_INTERRUPT_ON_CANCEL);
            if (intr)
                interrupt_unblock();
            tls_job = j;
            intptr_t r = j->fn(j->arg);
            tls_job = NULL;
            if (intr)
                interrupt_block();
            int64_t end = start ? clock_now() : 0;

            pthread_mutex_lock(&p->mu);
            p->lat.jobs++;
            if (start) {
                hist_record(&p->lat.queue_wait, start - j->stamp);
                hist_record(&p->lat.run, end - start);
                note_run_time(p, end - start);
                atomic_store_explicit(&w->t0, 0, memory_order_relaxed);
                j->stamp = end; /* its loop records the resume latency from here */
                j->in.handle = offload_deliver_timed;
            }
            if (intr)
                w->interrupting = 0;
            j->result = r;
            j->state = J_FINISHED;
            w->current = NULL;
            p->running--;
            const tt_job_opts *o = job_opts(j);
            if (j->orphan || r == -ECANCELED || /* orphan first: see pool_detach */
                (j->cancel_requested && o && (o->flags & TT_JOB_ABANDON_ON_CANCEL)))
                p->cancelled++; /* ended cancelled, or its result goes to discard */
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
         * loop needs to collect their results. The count is changed under the lock.
         * When jobs come in batches further apart than the spin (W9: a loop turn of ~100 us),
         * each spin is CPU taken from the loop and its peers for nothing, so the spin shrinks
         * while it keeps failing and comes back when the gaps do. */
        int64_t spin = p->spin_ns;
        if (spin >= WORKER_SPIN_MIN &&
            atomic_load_explicit(&p->spinning, memory_order_relaxed) < MAX_SPINNERS) {
            atomic_fetch_add(&p->spinning, 1);
            pthread_mutex_unlock(&p->mu);
            int64_t until = clock_now() + spin;
            bool found = false;
            for (unsigned i = 1;; i++) {
                if (atomic_load_explicit(&p->queued_hint, memory_order_relaxed)) {
                    found = true;
                    break;
                }
                cpu_relax();
                if ((i & 63) == 0 && clock_now() > until)
                    break;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_sub(&p->spinning, 1);
            p->spin_ns = found ? WORKER_SPIN_NS : spin / 2;
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
        int64_t slept = p->spin_ns < WORKER_SPIN_NS ? clock_now() : 0;
        while (!w->wake && !p->shutdown && rc == 0)
            rc = p->idle_timeout < 0 ? pthread_cond_wait(&w->cv, &p->mu)
                                     : pthread_cond_timedwait(&w->cv, &p->mu, &dl);
        /* Idle time up to the batch's arrival, not to this wake-up (which may come ~30 us
         * later): if a spin would have caught the batch, spin again. */
        int64_t gap = p->enqueued_at - slept;
        if (slept && w->wake && gap >= 0 && gap < WORKER_SPIN_NS)
            p->spin_ns = WORKER_SPIN_NS;
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
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    /* Hold times are a few dozen instructions: spinning briefly beats sleeping in the kernel. */
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    int bad = pthread_mutex_init(&p->mu, &ma) != 0 || cond_init_monotonic(&p->idle_cv) != 0;
    pthread_mutexattr_destroy(&ma);
    if (bad) {
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    p->min_threads = d.min_threads;
    p->max_threads = d.max_threads;
    p->idle_timeout = d.idle_timeout < 0 ? TT_FOREVER : d.idle_timeout ? d.idle_timeout : DEFAULT_IDLE;
    p->queue_limit = d.queue_limit;
    p->spin_ns = WORKER_SPIN_NS;
    p->run_est_ns = STAFF_UNKNOWN;
    p->stack_size = d.thread_stack_size ? d.thread_stack_size : 8u << 20;
    snprintf(p->name, sizeof p->name, "%s", d.name && *d.name ? d.name : "tt-worker");
    pthread_mutex_lock(&p->mu);
    for (unsigned i = 0; i < p->min_threads; i++)
        if (start_worker(p) < 0)
            break;
    int ok = p->threads == p->min_threads;
    pthread_mutex_unlock(&p->mu);
    live_add(LIVE_POOLS, 1);
    p->watch.check = pool_check;
    p->debug = debug_env();
    if (ok && p->debug && tt_pool_watch(p, 0) < 0)
        ok = 0;
    if (!ok) {
        tt_pool_free(p);
        errno = EAGAIN;
        return NULL;
    }
    return p;
}

static void free_pool_now(tt_pool *p)
{
    watch_remove(&p->watch);
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
    publish_queued(p);
    announce_room(p);
}

int tt_pool_shutdown(tt_pool *p, int64_t timeout, unsigned flags)
{
    if (!p || (flags & ~TT_POOL_CANCEL_QUEUED))
        return -EINVAL;
    if (timeout != 0 && on_own_worker(p))
        return -EDEADLK; /* it would wait for the caller's own job */
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->shutdown, 1, __ATOMIC_RELAXED); /* pool_admit reads it unlocked */
    if ((flags & TT_POOL_CANCEL_QUEUED) || p->threads == 0)
        cancel_queued_locked(p);
    for (worker *w = p->idle_stack; w; w = w->next_idle) {
        w->wake = 1;
        pthread_cond_signal(&w->cv);
    }
    p->idle_stack = NULL;
    struct timespec dl;
    if (timeout >= 0) {
        timespec_after(&dl, timeout);
        note_running_locked(p, clock_now()); /* a report's elapsed covers at least the wait */
    }
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
    if (rc == -ETIMEDOUT && p->debug)
        shutdown_warn(p);
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
        offload_flush(tls_loop); /* this loop's batched jobs run before the shutdown completes */
    tt_pool_shutdown(p, TT_FOREVER, 0);
    pthread_mutex_lock(&p->mu);
    while (p->threads)
        pthread_cond_wait(&p->idle_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    if (tls_loop)
        offload_forget(tls_loop, p);
    /* Loops of other threads that submitted to it keep a client in it (their thread alone
     * may drop it): the last of them to be freed frees the pool's memory. */
    pthread_mutex_lock(&p->mu);
    bool later = p->clients != NULL;
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

int tt_job_cancelled(void)
{
    job *j = tls_job;
    return j && atomic_load_explicit(&j->stop, memory_order_relaxed);
}

/* ------------------------------------------------------------- the loop side's calls */

pool_client *pool_client_new(tt_pool *p, tt_loop *loop, inbox_node *room_notice)
{
    pool_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->room_notice = room_notice;
    pthread_mutex_lock(&p->mu);
    c->next = p->clients;
    p->clients = c;
    pthread_mutex_unlock(&p->mu);
    return c;
}

bool pool_bounded(tt_pool *p) { return p->queue_limit != 0; }

int pool_admit(tt_pool *p)
{
    if (TT_LIKELY(atomic_load_explicit(&p->threads_hint, memory_order_relaxed) != 0 &&
                  !p->queue_limit))
        /* unlocked: a late shutdown is met at the flush (pool_enqueue) */
        return __atomic_load_n(&p->shutdown, __ATOMIC_RELAXED) ? -ESHUTDOWN : 0;
    pthread_mutex_lock(&p->mu);
    int rc = p->shutdown ? -ESHUTDOWN : 0;
    if (!rc && p->threads == 0 && start_worker(p) < 0)
        rc = -EAGAIN; /* no thread could start: nothing would ever run this job */
    if (!rc && p->queue_limit && p->queued >= p->queue_limit)
        rc = 1;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int pool_want_room(tt_pool *p, pool_client *c)
{
    pthread_mutex_lock(&p->mu);
    int full = p->queued >= p->queue_limit && !p->shutdown;
    if (full)
        c->room_wanted = 1;
    pthread_mutex_unlock(&p->mu);
    return full;
}

void pool_room_noticed(tt_pool *p, pool_client *c)
{
    pthread_mutex_lock(&p->mu);
    c->room_msg_queued = 0;
    pthread_mutex_unlock(&p->mu);
}

int pool_enqueue(tt_pool *p, job *head, job *tail, size_t n)
{
    worker *wake[64];
    pthread_mutex_lock(&p->mu);
    /* pool_admit saw a thread (a relaxed hint); if the last one has retired since and none can
     * start now, or the pool was shut down meanwhile, nothing would ever run the batch. */
    if (TT_UNLIKELY(!p->threads) && (p->shutdown || start_worker(p) < 0)) {
        int err = p->shutdown ? -ESHUTDOWN : -EAGAIN;
        pthread_mutex_unlock(&p->mu);
        return err;
    }
    if (p->tail)
        p->tail->next = head;
    else
        p->head = head;
    p->tail = tail;
    p->queued += n;
    publish_queued(p);
    if (p->spin_ns < WORKER_SPIN_NS)
        p->enqueued_at = clock_now();
    size_t k = staff(p, n, false, wake, 64);
    pthread_mutex_unlock(&p->mu);
    signal_workers(wake, k);
    return 0;
}

int64_t pool_check_staff(tt_pool *p)
{
    int64_t since = atomic_load_explicit(&p->short_since, memory_order_relaxed);
    if (!since)
        return TT_FOREVER;
    if (clock_now() - since < STAFF_ESCALATE_NS)
        return since + STAFF_ESCALATE_NS;
    worker *wake[64];
    size_t k = 0;
    pthread_mutex_lock(&p->mu);
    if (atomic_load_explicit(&p->short_since, memory_order_relaxed) == since) {
        atomic_store_explicit(&p->short_since, 0, memory_order_relaxed);
        /* Entries cancelled while queued count too: only a worker hands them back. */
        if (p->head && !p->shutdown)
            k = staff(p, p->queued ? p->queued : 1, true, wake, 64);
    }
    pthread_mutex_unlock(&p->mu);
    signal_workers(wake, k);
    return TT_FOREVER;
}

int pool_cancel(job *j)
{
    tt_pool *p = j->pool;
    pthread_mutex_lock(&p->mu);
    if (j->state == J_QUEUED) {
        j->state = J_DEQUEUED; /* a worker meeting it hands it back unrun */
        p->queued--;
        p->cancelled++;
        publish_queued(p);
        announce_room(p);
        pthread_mutex_unlock(&p->mu);
        return JC_DEQUEUED;
    }
    int first = !j->cancel_requested;
    const tt_job_opts *o = job_opts(j);
    bool abandon = o && (o->flags & TT_JOB_ABANDON_ON_CANCEL);
    if (j->state == J_RUNNING || j->state == J_FINISHED) {
        atomic_store_explicit(&j->stop, 1, memory_order_relaxed);
        if (first && abandon && j->state == J_FINISHED) {
            p->completed--; /* finished, but its result will be discarded now */
            p->cancelled++;
        }
        j->cancel_requested = 1;
    }
    int running = j->state == J_RUNNING;
    pthread_mutex_unlock(&p->mu);
    if (!j->cancel_requested)
        return JC_NONE;
    return first && running ? JC_STOPPING_NOW : JC_STOPPING;
}

job *pool_detach(tt_pool *p, pool_client *c, void (*orphan)(job *j))
{
    tt_loop *loop = c->loop;
    job *cancelled = NULL;
    pthread_mutex_lock(&p->mu);
    for (pool_client **pp = &p->clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    bool last = p->freed && !p->clients;
    if (c->resume) /* the loop's resume latencies stay with the pool */
        hist_shared_add_to(&p->lat.resume, c->resume);
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
    if (!p->head)
        clear_short(p);
    publish_queued(p);
    for (worker *w = p->all_workers; w; w = w->all_next) {
        job *j = w->current;
        if (j && j->fut.loop == loop && !j->orphan) {
            /* No unblock: the worker may already be discarding arg, and nothing orders the two
             * any more. */
            j->orphan = 1;
            j->cancel_requested = 1;
            atomic_store_explicit(&j->stop, 1, memory_order_relaxed);
            orphan(j);
        }
    }
    pthread_mutex_unlock(&p->mu);
    free(c);
    if (last) /* tt_pool_free has returned: it was waiting for this client */
        free_pool_now(p);
    return cancelled;
}

bool pool_client_release(tt_pool *p, pool_client *c)
{
    pthread_mutex_lock(&p->mu);
    bool idle = !c->room_msg_queued;
    if (idle) {
        for (pool_client **pp = &p->clients; *pp; pp = &(*pp)->next)
            if (*pp == c) {
                *pp = c->next;
                break;
            }
        if (c->resume) /* as in pool_detach: the loop's resume latencies stay with the pool */
            hist_shared_add_to(&p->lat.resume, c->resume);
    }
    pthread_mutex_unlock(&p->mu);
    if (idle)
        free(c);
    return idle;
}

void pool_attach(tt_pool *p, int delta) { atomic_fetch_add(&p->attached, delta); }

void pool_free_when_idle(tt_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int now = p->threads == 0;
    p->free_when_idle = !now;
    pthread_mutex_unlock(&p->mu);
    if (now)
        free_pool_now(p);
}
