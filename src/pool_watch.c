/* The pool's observability, beside pool.c and like it the only file that sees inside tt_pool
 * (through pool_impl.h): the latency report (recorded by pool.c's workers), the stuck-call
 * detector the monitor thread runs, what a timed-out shutdown reports, and the interrupts of
 * TT_JOB_INTERRUPT_ON_CANCEL. */
#include "pool_impl.h"

#include <signal.h>

/* When w's current call started: exact if it is timed, else when the monitor or a shutdown
 * first saw it running (noted now if this is the first look at it). Pool lock held. */
static int64_t call_start_locked(worker *w, int64_t now)
{
    if (w->seen_seq != w->seq) {
        w->seen_seq = w->seq;
        w->seen_at = now;
    }
    int64_t t0 = atomic_load_explicit(&w->t0, memory_order_relaxed);
    return t0 ? t0 : w->seen_at;
}

void note_running_locked(tt_pool *p, int64_t now)
{
    for (worker *w = p->all_workers; w; w = w->all_next)
        if (w->current)
            (void)call_start_locked(w, now);
}

/* The calls running now, the longest first: up to max into calls, their number returned.
 * Symbols are looked up by the caller, outside the lock. */
static size_t running_calls_locked(tt_pool *p, int64_t now, tt_pool_call *calls, size_t max)
{
    size_t n = 0;
    for (worker *w = p->all_workers; w; w = w->all_next) {
        if (!w->current)
            continue;
        tt_pool_call c = {.fn = (const void *)w->current->fn,
                          .elapsed = now - call_start_locked(w, now)};
        memcpy(c.thread, w->tname, sizeof c.thread);
        size_t i = n < max ? n : max; /* insertion by elapsed, longest first */
        while (i > 0 && calls[i - 1].elapsed < c.elapsed) {
            if (i < max)
                calls[i] = calls[i - 1];
            i--;
        }
        if (i < max)
            calls[i] = c;
        n++;
    }
    return n;
}

static void name_calls(tt_pool_call *calls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        watch_symbol(calls[i].fn, calls[i].symbol, sizeof calls[i].symbol);
}

int tt_pool_shutdown_report(tt_pool *p, int64_t timeout, unsigned flags, tt_pool_call *calls,
                            size_t max, size_t *n)
{
    if (!p || (!calls && max))
        return -EINVAL;
    if (n)
        *n = 0;
    int rc = tt_pool_shutdown(p, timeout, flags);
    if (rc != -ETIMEDOUT)
        return rc;
    pthread_mutex_lock(&p->mu);
    size_t k = running_calls_locked(p, clock_now(), calls, max);
    pthread_mutex_unlock(&p->mu);
    name_calls(calls, k < max ? k : max);
    if (n)
        *n = k;
    return rc;
}

/* Debug mode: a shutdown that timed out says what it gave up on. */
void shutdown_warn(tt_pool *p)
{
    tt_pool_call calls[8];
    pthread_mutex_lock(&p->mu);
    size_t k = running_calls_locked(p, clock_now(), calls, 8);
    pthread_mutex_unlock(&p->mu);
    size_t shown = k < 8 ? k : 8;
    name_calls(calls, shown);
    for (size_t i = 0; i < shown; i++)
        debug_warn(NULL, "pool '%s': shutdown timed out with %s running for %.1f ms on thread %s",
                   p->name, calls[i].symbol, (double)calls[i].elapsed / 1e6, calls[i].thread);
    if (k > shown)
        debug_warn(NULL, "pool '%s': and %zu more calls", p->name, k - shown);
}

int tt_pool_latency_get(tt_pool *p, tt_pool_latency *out)
{
    if (!p || !out)
        return -EINVAL;
    pthread_mutex_lock(&p->mu);
    *out = p->lat;
    for (pool_client *c = p->clients; c; c = c->next)
        if (c->resume)
            hist_shared_add_to(&out->resume, c->resume);
    pthread_mutex_unlock(&p->mu);
    hist_seal(&out->queue_wait);
    hist_seal(&out->run);
    hist_seal(&out->resume);
    return 0;
}

void pool_client_resume_hist(tt_pool *p, pool_client *c, const hist_shared *h)
{
    pthread_mutex_lock(&p->mu);
    c->resume = h;
    pthread_mutex_unlock(&p->mu);
}

#define INTERRUPT_RESEND_NS TT_MS(5)

/* The monitor thread's look at p (registry lock held): re-sends pending interrupts and reports
 * calls past the stuck threshold, once each. Returns when it wants to look again. */
int64_t pool_check(watch_entry *e, int64_t now)
{
    tt_pool *p = TT_CONTAINER_OF(e, tt_pool, watch);
    tt_pool_call rep[8];
    size_t nrep = 0;
    unsigned stuck = 0;
    bool interrupting = false;
    pthread_mutex_lock(&p->mu);
    for (worker *w = p->all_workers; w; w = w->all_next) {
        if (!w->current)
            continue;
        if (w->interrupting) {
            /* The last signal may have landed just before fn entered its call. */
            pthread_kill(w->th, interrupt_signo());
            interrupting = true;
        }
        if (p->stuck_after <= 0)
            continue;
        int64_t st = call_start_locked(w, now);
        if (now - st < p->stuck_after)
            continue;
        stuck++;
        if (w->reported_seq == w->seq)
            continue;
        w->reported_seq = w->seq;
        p->lat.stuck_reported++;
        if (nrep < 8) {
            tt_pool_call *c = &rep[nrep++];
            c->fn = (const void *)w->current->fn;
            c->elapsed = now - st;
            memcpy(c->thread, w->tname, sizeof c->thread);
        }
    }
    p->lat.stuck_now = stuck;
    int64_t after = p->stuck_after;
    pthread_mutex_unlock(&p->mu);
    name_calls(rep, nrep);
    for (size_t i = 0; i < nrep; i++)
        debug_warn(NULL, "pool '%s': blocking call %s running for %.1f ms on thread %s", p->name,
                   rep[i].symbol, (double)rep[i].elapsed / 1e6, rep[i].thread);
    if (interrupting)
        return INTERRUPT_RESEND_NS;
    return after > 0 ? after / 4 : 0;
}

int tt_pool_watch(tt_pool *p, int64_t stuck_after)
{
    if (!p)
        return -EINVAL;
    if (stuck_after == 0)
        stuck_after = p->debug ? WATCH_DEBUG_THRESHOLD : -1;
    pthread_mutex_lock(&p->mu);
    p->stuck_after = stuck_after;
    p->lat.stuck_now = 0;
    pthread_mutex_unlock(&p->mu);
    if (stuck_after > 0)
        return watch_add(&p->watch, stuck_after / 4);
    return 0; /* the entry, if any, stays until the pool is freed and idles meanwhile */
}

void pool_interrupt(job *j)
{
    tt_pool *p = j->pool;
    bool sent = false;
    pthread_mutex_lock(&p->mu);
    if (j->state == J_RUNNING)
        for (worker *w = p->all_workers; w; w = w->all_next)
            if (w->current == j) {
                w->interrupting = 1;
                pthread_kill(w->th, interrupt_signo());
                sent = true;
                break;
            }
    pthread_mutex_unlock(&p->mu);
    if (sent) /* if no monitor thread can start, the one signal sent is all this job gets */
        (void)watch_add(&p->watch, INTERRUPT_RESEND_NS);
}
