/* Outcome codes to text, and the process-wide live-object counters: thread-local blocks that
 * the hot path bumps with plain stores, summed on demand and folded in when a thread exits. */
#include "internal.h"

#include <netdb.h>
#include <stdio.h>

const char *tt_strerror(intptr_t code)
{
    static _Thread_local char buf[64];
    if (code >= 0)
        return "success";
    if (code >= -4095) {
        const char *d = strerrordesc_np((int)-code);
        if (d)
            return d;
    }
    if (TT_IS_EAI(code))
        return gai_strerror((int)(code - TT_EAI_BASE)); /* the server toolkit's name lookups */
    snprintf(buf, sizeof buf, "error %ld", (long)code);
    return buf;
}

char *tt_strdup_or_null(const char *s)
{
    if (!s)
        return NULL;
    return strdup(s);
}

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
