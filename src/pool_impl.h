/* The pool's private structures, shared by its two files and included by no other: pool.c
 * (workers, the queue, the life cycle, the loop side's pool_* calls) and pool_watch.c (latency,
 * the stuck-call detector, shutdown reports, interrupts). They are the only ones that see inside
 * tt_pool; everything else goes through internal.h's pool_* calls and the public API. */
#ifndef TT_POOL_IMPL_H
#define TT_POOL_IMPL_H

#include "internal.h"

#define WORKER_SPIN_NS 50000 /* the longest a worker that just finished waits for more work */
/* What waking a sleeping worker costs the batch, about (~30 us on this project's VM, 5-10 on
 * bare metal): a batch one worker runs in less than this gets one worker, not one per job. W9
 * measured the same at 50 and 20 us, and a worse p99 at 10. */
#define STAFF_WAKE_NS 20000
/* A batch that was given fewer workers than jobs and is still queued this long after gets every
 * idle worker: the estimate was wrong (a job blocked, or waits for another job of the batch). */
#define STAFF_ESCALATE_NS 500000
#define STAFF_UNKNOWN INT64_MAX

typedef struct worker {
    struct worker *next_idle;
    atomic_int signals_in_flight;       /* wake-ups sent after the lock was released */
    struct worker *all_prev, *all_next; /* every live worker (pool lock) */
    pthread_cond_t cv;
    int wake;
    job *current;
    tt_pool *pool;
    unsigned n;
    /* observability, under the pool lock unless said otherwise. seq counts the jobs this
     * worker started: a call is still the same while seq has not moved, so the stuck detector
     * and a shutdown need no clock read per job (they note when they first saw each seq). */
    uint64_t seq;
    int untimed;                /* jobs left before the next timed one (worker only) */
    uint64_t seen_seq;          /* the seq seen_at belongs to */
    int64_t seen_at;            /* when the monitor or a shutdown first saw seq running */
    uint64_t reported_seq;      /* the call the stuck detector reported */
    _Atomic int64_t t0;         /* a timed job's start (0 otherwise): written by the worker */
    int interrupting;           /* current was cancelled with TT_JOB_INTERRUPT_ON_CANCEL */
    pthread_t th;
    char tname[16];
} worker;

/* A loop using the pool (offload.c's link): where room notices go. Fields under the lock. */
struct pool_client {
    struct pool_client *next;
    tt_loop *loop;
    inbox_node *room_notice;
    int room_wanted;
    int room_msg_queued;
    const hist_shared *resume; /* the loop's resume latencies on this pool */
};

struct tt_pool {
    pthread_mutex_t mu;
    pthread_cond_t idle_cv; /* shutdown and free wait on it */
    job *head, *tail;
    size_t queued;
    atomic_size_t queued_hint; /* for spinning workers, read without the lock */
    atomic_int spinning;
    /* The idle spin now (under the lock): halved by each spin that found nothing, back to
     * WORKER_SPIN_NS when work came within that time after a worker went idle. */
    int64_t spin_ns;
    int64_t enqueued_at; /* the last batch's arrival, kept while spin_ns is short */
    /* How many workers a batch wakes (pool.c, staff): a job's expected run time from the timed
     * jobs (STAFF_UNKNOWN until the first), and when a batch left sleeping workers idle while
     * its jobs waited (0: none does; read without the lock by the loops that check it). */
    int64_t run_est_ns;
    _Atomic int64_t short_since;
    worker *idle_stack;
    worker *all_workers;
    unsigned threads, idle, running, next_n;
    atomic_uint threads_hint;
    size_t completed, cancelled;
    int shutdown;        /* written under the lock; pool_admit's unlocked read is atomic */
    int free_when_idle;
    int freed;           /* tt_pool_free returned; the last client to leave frees it */
    atomic_int attached; /* loops using it as their default */
    pool_client *clients;
    unsigned min_threads, max_threads;
    int64_t idle_timeout;
    size_t queue_limit, stack_size;
    char name[12];
    /* observability, under mu: latency histograms, the stuck-call detector, interrupts */
    tt_pool_latency lat;
    int64_t stuck_after;        /* > 0: the detector's threshold */
    bool debug;                 /* TT_DEBUG when created: shutdown prints what it gave up on */
    watch_entry watch;
};

/* pool_watch.c's calls from pool.c. */
int64_t pool_check(watch_entry *e, int64_t now); /* the monitor's look at a pool (watch.check) */
/* A shutdown about to wait (lock held): notes when each running call was first seen, so that a
 * report's elapsed covers at least the wait. */
void note_running_locked(tt_pool *p, int64_t now);
void shutdown_warn(tt_pool *p); /* debug mode: a timed-out shutdown says what it gave up on */

#endif
