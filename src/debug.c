/* Debug mode's warnings (TT_DEBUG=1 or tt_loop_opts.debug) through a settable handler, and the
 * process-wide live-object counters (tt_live_get): thread-local blocks that the hot path bumps
 * with plain stores, summed on demand and folded in when a thread exits. A leaf: the checks
 * themselves live with what they check (slow steps and tt_loop_dump in task.c). */
#include "internal.h"

#include <stdio.h>

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static tt_warn_fn warn_fn;
static void *warn_arg;

void tt_set_warn_handler(tt_warn_fn fn, void *arg)
{
    pthread_mutex_lock(&warn_lock);
    warn_fn = fn;
    warn_arg = arg;
    pthread_mutex_unlock(&warn_lock);
}

void debug_warn(tt_loop *loop, const char *fmt, ...)
{
    (void)loop;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&warn_lock);
    tt_warn_fn fn = warn_fn;
    void *arg = warn_arg;
    pthread_mutex_unlock(&warn_lock);
    if (fn)
        fn(msg, arg);
    else
        fprintf(stderr, "tothread: %s\n", msg);
}

void debug_unretrieved(tt_future *f, const char *task_name)
{
    if (f->state != FS_DONE || f->result >= 0 || f->result == -ECANCELED || f->retrieved)
        return;
    if (task_name)
        debug_warn(f->loop, "task '%s' failed with %ld (%s) and nobody retrieved it", task_name,
                   (long)f->result, tt_strerror(f->result));
    else
        debug_warn(f->loop, "%s failed with %ld (%s) and nobody retrieved it", f->ops->what,
                   (long)f->result, tt_strerror(f->result));
}

/* ------------------------------------------------------------------ live counters */

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static live_block *live_blocks;
static _Atomic long live_retired[LIVE_N]; /* totals of threads that have exited */
static pthread_key_t live_key;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;
_Thread_local live_block *tls_live;

static void live_thread_exit(void *p)
{
    live_block *b = p;
    pthread_mutex_lock(&live_lock);
    for (int i = 0; i < LIVE_N; i++)
        atomic_fetch_add(&live_retired[i], atomic_load_explicit(&b->v[i], memory_order_relaxed));
    if (b->prev)
        b->prev->next = b->next;
    else
        live_blocks = b->next;
    if (b->next)
        b->next->prev = b->prev;
    pthread_mutex_unlock(&live_lock);
    free(b);
}

static void live_init(void) { pthread_key_create(&live_key, live_thread_exit); }

static live_block *live_mine(void)
{
    pthread_once(&live_once, live_init);
    live_block *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_lock(&live_lock);
    b->next = live_blocks;
    if (live_blocks)
        live_blocks->prev = b;
    live_blocks = b;
    pthread_mutex_unlock(&live_lock);
    pthread_setspecific(live_key, b);
    return tls_live = b;
}

void live_add_slow(int which, long delta)
{
    live_block *b = live_mine();
    if (!b) {
        atomic_fetch_add(&live_retired[which], delta); /* no memory for a block */
        return;
    }
    long v = atomic_load_explicit(&b->v[which], memory_order_relaxed);
    atomic_store_explicit(&b->v[which], v + delta, memory_order_relaxed);
}

void tt_live_get(tt_live *out)
{
    if (!out)
        return;
    long sum[LIVE_N];
    pthread_mutex_lock(&live_lock);
    for (int i = 0; i < LIVE_N; i++)
        sum[i] = atomic_load(&live_retired[i]);
    for (live_block *b = live_blocks; b; b = b->next)
        for (int i = 0; i < LIVE_N; i++)
            sum[i] += atomic_load_explicit(&b->v[i], memory_order_relaxed);
    pthread_mutex_unlock(&live_lock);
    out->futures = sum[LIVE_FUTURES];
    out->tasks = sum[LIVE_TASKS];
    out->stacks = sum[LIVE_STACKS];
    out->jobs = sum[LIVE_JOBS];
    out->loops = sum[LIVE_LOOPS];
    out->pools = sum[LIVE_POOLS];
}
