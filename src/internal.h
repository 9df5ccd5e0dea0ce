/* Private structures shared by the src/ files: the loop, futures, tasks, timers, the inbox and
 * the counters. Nothing here is public API; every function declared here runs on the loop's
 * thread unless its comment says otherwise. */
#ifndef TT_INTERNAL_H
#define TT_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* The library is built with hidden visibility: only the public API is exported. */
#pragma GCC visibility push(default)
#include "tothread.h"
#pragma GCC visibility pop

#include <liburing.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TT_SANITIZING 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TT_SANITIZING 1
#endif
#endif

#define TT_LIKELY(x) __builtin_expect(!!(x), 1)
#define TT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TT_CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ------------------------------------------------------------------ live counters */
/* Thread-local counter blocks summed by tt_live_get: the hot path pays a plain increment. */
enum { LIVE_FUTURES, LIVE_TASKS, LIVE_STACKS, LIVE_JOBS, LIVE_LOOPS, LIVE_POOLS, LIVE_N };
typedef struct live_block live_block;
struct live_block {
    _Atomic long v[LIVE_N];
    live_block *prev, *next;
};
extern _Thread_local live_block *tls_live;
void live_add_slow(int which, long delta);
/* Any thread. Only this thread writes its block: a relaxed load and store, no locked op. */
static inline void live_add(int which, long delta)
{
    live_block *b = tls_live;
    if (__builtin_expect(!b, 0)) {
        live_add_slow(which, delta);
        return;
    }
    long v = atomic_load_explicit(&b->v[which], memory_order_relaxed);
    atomic_store_explicit(&b->v[which], v + delta, memory_order_relaxed);
}

/* ------------------------------------------------------------------- ready queue */
/* Everything runnable on a loop is a ready_item: a task's step or a callback. Items are
 * intrusive, so scheduling a task allocates nothing. */
enum { RK_TASK = 1, RK_CALLBACK = 2 };
typedef struct ready_item {
    struct ready_item *next;
    uint8_t kind;
    uint8_t type; /* a callback's CB_* flags (kept here so a cb_node fits 48 bytes) */
} ready_item;

typedef struct ready_list {
    ready_item *head;
    ready_item **tailp;
} ready_list;

static inline void ready_list_init(ready_list *l) { l->head = NULL; l->tailp = &l->head; }
static inline void ready_list_push(ready_list *l, ready_item *it)
{
    it->next = NULL;
    *l->tailp = it;
    l->tailp = &it->next;
}

/* A pooled callback node. CB_DONE: done(fut, arg) and then the node's ref on fut is dropped;
 * CB_CALL: call(arg). aux is free for internal users (gather's slot index). */
/* CB_EMBEDDED: the node lives inside another object (never on the freelist); if the loop is
 * freed with it still queued, aux (when set) is a void (*)(cb_node *) that releases it. */
enum { CB_DONE = 1, CB_CALL = 2, CB_PUBLIC = 4, CB_EMBEDDED = 8 };
typedef struct cb_node {
    ready_item ri;
    union {
        void (*done)(tt_future *f, void *arg);
        void (*call)(void *arg);
    } fn;
    void *arg;
    tt_future *fut;
    uintptr_t aux;
} cb_node;

/* ------------------------------------------------------------------------ timers */
/* A timer is embedded in whatever waits (a task's sleep, a wait_for, a call_later). fire runs
 * on the loop's thread, in the loop context; it may complete futures and cancel tasks. */
typedef struct tt_timer {
    int64_t deadline;
    uint64_t seq;   /* equal deadlines fire in arming order */
    uint32_t index; /* heap slot + 1, or TIMER_IN_RUNQ - run queue; 0 when not armed */
    uint32_t qpos;  /* in a run queue: the position there */
    void (*fire)(struct tt_timer *t);
} tt_timer;
#define TIMER_RUNQS 64 /* run queues: timers of each delay (in ms, mod 64) in arming order */
#define TIMER_IN_RUNQ UINT32_MAX

typedef struct heap_slot {
    int64_t deadline;
    uint64_t seq;
    tt_timer *timer;
} heap_slot;

/* The run queue is ordered by position: its slots need no seq (four to a cache line). */
typedef struct runq_slot {
    int64_t deadline;
    tt_timer *timer;
} runq_slot;

int timer_arm(tt_loop *loop, tt_timer *t, int64_t deadline); /* 0 or -ENOMEM; rearms */
int timer_arm_in(tt_loop *loop, tt_timer *t, int64_t delay); /* the same, delay >= 0 from now */
void timer_disarm(tt_loop *loop, tt_timer *t);
static inline bool timer_armed(const tt_timer *t) { return t->index != 0; }
int64_t timer_next_deadline(tt_loop *loop); /* TT_FOREVER if none; see also loop->timers */
int timer_fire_expired(tt_loop *loop, int64_t now); /* how many fired */
void timer_heap_free(tt_loop *loop);
int64_t clock_now(void);
/* now + d, saturating at INT64_MAX (a huge timeout must not wrap into the past). d >= 0. */
static inline int64_t deadline_after(int64_t d)
{
    int64_t now = clock_now();
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}
/* An outcome returned as int by the API: failures stay failures even below INT_MIN. */
static inline int outcome_to_int(intptr_t r) { return r < INT32_MIN ? INT32_MIN : (int)r; }

/* ----------------------------------------------------------------------- futures */
enum { FS_PENDING = 0, FS_DONE = 1 };
enum { FK_PLAIN = 1, FK_TASK, FK_JOB, FK_GATHER, FK_OTHER };

typedef struct future_ops {
    uint8_t kind;
    const char *what; /* for dumps and warnings */
    /* tt_cancel on a pending future: 1 if a cancel was requested. NULL: plain cancel. */
    int (*cancel)(tt_future *f, const char *msg);
    /* Releases what the kind holds, before the memory goes back. May be NULL. */
    void (*destroy)(tt_future *f);
} future_ops;

struct tt_future {
    uint32_t refs;
    uint8_t state;
    uint8_t retrieved;     /* a failure was read (never-retrieved warning in debug mode) */
    uint8_t user_settable; /* tt_future_set allowed */
    uint8_t size_class;    /* allocator bucket */
    intptr_t result;
    char *cancel_msg;      /* malloc'd; the first cancel request's message */
    tt_loop *loop;
    const future_ops *ops;
    ready_item *cb_head;   /* done-callbacks and waiting tasks, FIFO */
    ready_item **cb_tailp;
};

/* Allocates size bytes (a struct that starts with tt_future) from the loop's freelists and
 * initialises the future part: one reference, pending. NULL on ENOMEM. */
void *future_alloc(tt_loop *loop, size_t size, const future_ops *ops);
/* Completes f: stores result, schedules its callbacks and waiters. Returns -EBUSY if done. */
int future_complete(tt_future *f, intptr_t result);
/* tt_cancel without the checks: 1 if a cancel was requested, 0 if f was done. */
int future_cancel(tt_future *f, const char *msg);
/* Completes f as cancelled with a copy of msg (NULL: none). */
int future_complete_cancelled(tt_future *f, const char *msg);
/* Adds an internal done-callback (not removable by tt_remove_done). 0 or -ENOMEM. */
int future_add_cb(tt_future *f, void (*cb)(tt_future *, void *), void *arg, uintptr_t aux);
/* The same with a node the caller already holds (cb_node_get): cannot fail. */
void future_add_cb_node(tt_future *f, cb_node *n, uint8_t type,
                        void (*cb)(tt_future *, void *), void *arg, uintptr_t aux);
/* Removes an internal callback added with the same (cb, arg); returns how many. */
int future_remove_cb(tt_future *f, void (*cb)(tt_future *, void *), void *arg);
/* The aux value of the callback node currently running (valid inside an internal callback). */
uintptr_t future_cb_aux(void);
void future_run_cb(tt_loop *loop, cb_node *n); /* the loop's dispatch of a callback */
/* Loop-checking for public entry points: 0, or -EINVAL / -EPERM. */
int future_check(const tt_future *f);

/* ------------------------------------------------------------------ context switch */
typedef struct tt_ctx {
    void *sp;
#if defined(TT_CORO_UCONTEXT)
    void *uctx; /* ucontext_t * */
#endif
#ifdef TT_SANITIZING /* a million tasks should not pay for what only sanitizers read */
    void *stack_lo;     /* NULL for a thread's own stack until ASan tells us */
    size_t stack_size;
    void *asan_fake;    /* ASan fake-stack save slot */
    void *tsan_fiber;   /* TSan fiber */
#endif
} tt_ctx;

/* Prepares ctx to run entry(arg) on [lo, lo + size) at its first switch. */
int ctx_make(tt_ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg); /* 0/-ENOMEM */
/* Saves the current context in from and resumes to. */
void ctx_switch(tt_ctx *from, tt_ctx *to);
/* Leaves a context for good (its stack may be reused right after). */
void ctx_exit_to(tt_ctx *dying, tt_ctx *to);
/* Called first on a fresh context's stack. */
void ctx_entered(tt_ctx *self);
void ctx_destroy(tt_ctx *ctx); /* sanitizer fiber cleanup; not for the running context */
void cpu_relax(void); /* spin-wait hint */
int ctx_init_thread(tt_ctx *ctx); /* the loop thread's own context; 0/-ENOMEM */

/* -------------------------------------------------------------------------- stacks */
#define TT_MAX_STACK ((size_t)1 << 30) /* larger stack sizes are refused with EINVAL */
typedef struct tt_stack {
    union {
        struct tt_stack *next_free; /* pooled */
        struct tt_task *task;       /* in use: the task on it (how dumps find started tasks) */
    };
    void *lo;          /* lowest usable address (just above the guard) */
    size_t size;       /* usable bytes */
    uint8_t from_chunk;
    uint8_t in_use;    /* handed out by stack_get, not put back yet */
    unsigned vg_id;    /* Valgrind's registration, dropped when the memory is unmapped */
} tt_stack;

typedef struct stack_pool stack_pool;
stack_pool *stack_pool_new(size_t default_size);
tt_stack *stack_get(stack_pool *sp, size_t size); /* NULL on ENOMEM */
void stack_put(stack_pool *sp, tt_stack *s);
/* Calls fn(s->task, arg) for every stack handed out and not put back (reading each one's
 * descriptor: for dumps and shutdown, not for hot paths). */
void stack_for_each_task(stack_pool *sp, void (*fn)(struct tt_task *t, void *arg), void *arg);
void stack_pool_free(stack_pool *sp);
/* The SIGSEGV reporter for guard-page hits: a process-wide handler plus this thread's
 * alternate signal stack. install: 0 or -ENOMEM; uninstall frees the thread's stack. */
int stack_overflow_handler_install(void);
void stack_overflow_handler_uninstall(void);

/* --------------------------------------------------------------------------- tasks */
enum { TS_NEW = 0, TS_READY, TS_RUNNING, TS_WAITING, TS_DONE };
enum { WAIT_NONE = 0, WAIT_FUTURE, WAIT_SLEEP, WAIT_IO };

typedef struct io_req { /* lives in the waiting task's frame */
    intptr_t res;
    uint8_t done;
    uint8_t cancel_sent;
} io_req;

/* A task is sized for the 128-byte slab class: W4's spawn-join of a million tasks spends its
 * time in cache misses on these objects, so each field costs. What only a started task needs
 * (fn and arg once it has a stack) is in the loop, for the moment between the two. */
typedef struct tt_task {
    tt_future fut;
    union {                     /* in the future's cache line: both are read at every switch */
        uint32_t stack_size;    /* TS_NEW: the size asked for; 0: the loop's default */
        tt_stack *stack;        /* started: its stack (and context) until it is released */
    };
    ready_item ri;              /* RK_TASK: scheduled to take a step */
    union {
        struct {                /* TS_NEW (then moved to the stack's descriptor) */
            tt_fn fn;
            void *arg;
        };
        struct {                /* started */
            tt_ctx ctx;         /* here, not in the stack: a switch reads the task anyway */
            union {             /* by wait_kind; the last two live in the suspended frame */
                tt_future *waiting_on;  /* WAIT_FUTURE (asyncio's _fut_waiter) */
                tt_timer *sleep_timer;  /* WAIT_SLEEP */
                io_req *io;             /* WAIT_IO */
            };
        };
    };
    int cancel_requests;        /* cancelling() */
    uint8_t state;
    uint8_t wait_kind;
    uint8_t must_cancel;        /* a request to deliver at the next resume */
    char *req_msg;              /* message of the first pending request */
    char *name;
    uint64_t id;
} tt_task;

extern const future_ops task_ops;
static inline bool future_is_task(const tt_future *f) { return f && f->ops == &task_ops; }
static inline tt_task *task_of(tt_future *f) { return (tt_task *)f; }
tt_task *task_current(void);                   /* NULL outside a task */
/* Suspends the current task until something pushes its ready item (state must be set by the
 * caller: TS_WAITING and a wait_kind). */
void task_suspend(tt_task *t);
void task_wake(tt_task *t);                     /* schedules t's next step */
/* The loop's dispatch: prepares t (a stack for a new task) before switching to it; false if t
 * was settled without running (cancelled before it started, no memory for a stack). */
bool task_switch_in(tt_loop *loop, tt_task *t);
/* Calls fn for every live task: the started ones, then those not started yet (which are all
 * on the ready queue). fn must not start, end or free tasks. */
void task_for_each(tt_loop *loop, void (*fn)(tt_task *t, void *arg), void *arg);
/* Consumes one delivered-cancel check at a resume: -ECANCELED (clears must_cancel) or 0. */
int task_take_cancel(tt_task *t);
/* Withdraws an undelivered cancel request (must_cancel) without delivering it. */
void task_withdraw_cancel(tt_task *t);
void task_cancel_all(tt_loop *loop, const char *msg); /* tt_run's shutdown */
void task_free_dead(tt_loop *loop);

/* ---------------------------------------------------------------------- the inbox */
/* Messages from other threads: an intrusive Vyukov MPSC queue. */
typedef struct inbox_node {
    _Atomic(struct inbox_node *) next;
    uint8_t kind;
} inbox_node;
enum { IN_STUB = 0, IN_JOB, IN_CALL, IN_SUBMIT, IN_CFCANCEL, IN_ROOM };

typedef struct inbox {
    _Atomic(inbox_node *) tail; /* producers */
    inbox_node *head;           /* the loop */
    inbox_node stub;
} inbox;

void inbox_init(inbox *q);
void inbox_push(tt_loop *loop, inbox_node *n); /* any thread: push and wake if asleep */
int inbox_drain(tt_loop *loop);                /* loop thread: handle every message; count */
bool inbox_empty(inbox *q);

/* ----------------------------------------------------------------------- the pool */
typedef struct job job;

/* J_QUEUED: in the loop's batch or the pool's queue. J_DEQUEUED: cancelled before it ran; it
 * may still sit in the queue (removal is lazy, so the queue is a singly linked list a batch
 * joins in O(1)); a worker meeting it sends it back to its loop without running it. */
enum { J_QUEUED = 1, J_RUNNING, J_FINISHED, J_DEQUEUED };

struct job {
    tt_future fut;           /* fut.loop is the job's loop, written once before it is queued */
    inbox_node in;           /* completion message to the loop */
    struct job *next;        /* the loop's batch, the pool's queue, or (off the queue) the
                                loop's graveyard and pool_detach_loop's list */
    tt_pool *pool;
    tt_fn fn;
    void *arg;
    intptr_t result;         /* written by the worker before it sends the message */
    uint8_t state;           /* pool lock once handed over */
    uint8_t cancel_requested;
    uint8_t orphan;          /* pool lock: its loop was freed while it ran */
    uint8_t has_opts;        /* opts[0] is there: plain jobs stay in a 128-byte slot */
    atomic_int stop;         /* tt_job_cancelled() */
    tt_job_opts opts[];
};

static inline const tt_job_opts *job_opts(const job *j) { return j->has_opts ? j->opts : NULL; }

typedef struct worker {
    struct worker *next_idle;
    atomic_int signals_in_flight;       /* wake-ups sent after the lock was released */
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

/* Thread side (pool.c), called with the pool lock held. */
void pool_publish_queued(tt_pool *p);   /* queued count for spinning workers */
void pool_announce_room(tt_pool *p);    /* the queue shrank: wake loops waiting for room */
int pool_start_worker(tt_pool *p);      /* 0 or -errno */
/* Wakes or starts workers for n new jobs; returns the k <= nwake idle workers it put in wake,
 * which the caller signals with pool_signal once the lock is released. */
size_t pool_staff(tt_pool *p, size_t n, worker **wake, size_t nwake);
void pool_signal(worker **wake, size_t k);
/* Loop side (offload.c). */
void pool_deliver(tt_loop *loop, inbox_node *n); /* loop thread: a finished job from the inbox */
void pool_room(tt_loop *loop, inbox_node *n);  /* loop thread: a pool has room again */
void pool_flush(tt_loop *loop);                 /* loop thread: hand batched jobs to pools */
/* Loop free: cancels the loop's queued jobs and asks its running ones to stop; the caller then
 * waits until jobs_inflight is 0 (every job delivered) before the loop goes away. */
void pool_detach_loop(tt_loop *loop);
void pool_links_free(tt_loop *loop);           /* after the loop's last inbox drain */
tt_pool *pool_default(tt_loop *loop);           /* creates it lazily; NULL + errno */
void pool_release_default(tt_loop *loop, int64_t timeout);
void pool_attach_default(tt_pool *pool);        /* a loop took pool as its default */
/* The loop spins on its inbox briefly only while jobs are in flight. */

/* ------------------------------------------------------------------------ the loop */
enum { SIZE_CLASSES = 6 }; /* 48, 64, 128, 192, 256, 384 bytes */
/* Loop-owned objects (futures, tasks, jobs, callback nodes) come from per-class freelists fed
 * by 64 KiB slabs; the memory goes back only with the loop (its shell, see tt_loop_free). */
void *slab_get(tt_loop *loop, unsigned cls); /* NULL on ENOMEM */
void slab_put(tt_loop *loop, unsigned cls, void *p);
unsigned slab_class(size_t size);            /* SIZE_CLASSES if too big for a slab */
void slab_free_all(tt_loop *loop);

struct tt_loop {
    struct io_uring ring;
    pthread_t owner;
    ready_list ready;
    ready_item *batch_last;     /* the last item of the current turn; NULL between turns */
    uint64_t steps;             /* callbacks and task steps run (tt_loop_run_once's count) */
    tt_ctx ctx;                 /* the loop's own context (the thread's stack) */
    tt_task *current;           /* the running task, or NULL in the loop context */
    tt_task *dead;              /* a finished task whose stack awaits release */
    /* timers (timer.c) */
    size_t timers;              /* armed, in the heap or the run queue */
    heap_slot *heap;
    size_t heap_len, heap_cap;
    uint64_t timer_seq;
    struct runqs *runqs;        /* TIMER_RUNQS FIFOs of timers in deadline order (timer.c) */
    /* call_later timers by id */
    struct later_timer **later;
    size_t later_cap, later_len;
    uint64_t later_next_id;
    /* inbox and wake-ups */
    inbox in;
    int event_fd;
    atomic_int sleeping;        /* producers write event_fd only when set */
    uint64_t event_buf;
    bool event_armed;
    int embed_fd;               /* tt_loop_fd, lazily */
    /* allocators */
    void *free_objs[SIZE_CLASSES];
    size_t slab_next[SIZE_CLASSES]; /* the next slab's size per class */
    struct slab *slabs;
    stack_pool *stacks;
    size_t default_stack;
    /* tasks */
    size_t ntasks;
    int64_t step_started_at;    /* debug mode: when the current task step began */
    tt_fn entering_fn;          /* the body of the task being switched to for its first step */
    void *entering_arg;
    uint64_t next_task_id;
    /* pools */
    tt_pool *pool;              /* default pool */
    bool pool_owned;
    size_t submit_pending;      /* jobs batched during a turn (in pool_links), flushed at its end */
    long jobs_inflight;         /* jobs of this loop not yet delivered */
    struct pool_link *links;    /* one per pool this loop has used */
    /* state */
    bool closed;                /* freed by the user; the shell lives while futures do */
    /* After close, the shell is shared with workers finishing orphaned jobs: every reference
     * count change and free goes under this (recursive) lock. */
    pthread_mutex_t shell_mu;
    int shell_depth;
    struct job *graveyard;      /* orphaned jobs a worker finished, to release under shell_mu */
    bool closing;               /* inside tt_loop_free: submissions are refused */
    long live_futures;          /* futures still pointing here */
    int debug;
    int sq_pending;             /* SQEs prepared but not submitted */
    int io_pending;             /* IO and cancel requests whose completion has not been reaped */
    int64_t stop_deadline;
    bool in_run;
    tt_future *run_target;      /* tt_loop_run_until's future: the loop must come back */
};

/* Takes the head of the ready queue (which must not be empty), ending the turn after its last
 * item. */
static inline ready_item *ready_pop(tt_loop *loop)
{
    ready_item *it = loop->ready.head;
    loop->ready.head = it->next;
    if (!it->next)
        loop->ready.tailp = &loop->ready.head;
    if (it == loop->batch_last)
        loop->batch_last = NULL;
    return it;
}

/* The loop of this thread (NULL if none). */
extern _Thread_local tt_loop *tls_loop;
static inline bool loop_on_thread(const tt_loop *l) { return l && tls_loop == l && !l->closed; }
void loop_push_ready(tt_loop *loop, ready_item *it);
cb_node *cb_node_get(tt_loop *loop);  /* NULL on ENOMEM */
void cb_node_put(tt_loop *loop, cb_node *n);
/* Runs one loop iteration; timeout as tt_loop_run_once. */
int loop_iterate(tt_loop *loop, int64_t timeout);
/* An SQE for the loop's thread, submitting first if the ring is full; NULL if impossible. */
struct io_uring_sqe *loop_get_sqe(tt_loop *loop);
/* Post-close reference drops (owner thread or a worker), under shell_mu; frees the shell with
 * its last future. */
void loop_unref_closed(tt_future *f);
void future_release(tt_future *f);      /* frees f's memory (its last reference went) */
void pool_bury_locked(tt_loop *loop);   /* releases the graveyard; shell_mu held */
void loop_shell_free(tt_loop *loop);

/* ------------------------------------------------------------------------ debugging */
void debug_warn(tt_loop *loop, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void debug_task_step_ended(tt_loop *loop, tt_task *t); /* slow-step check (debug mode) */
void debug_future_released(tt_future *f);              /* never-retrieved check (debug mode) */
void debug_loop_freed_with_tasks(tt_loop *loop);
/* Describes what t waits on into buf (for tt_loop_dump). */
void task_describe_wait(const tt_task *t, char *buf, size_t n);

/* --------------------------------------------------------------------------- misc */
char *tt_strdup_or_null(const char *s); /* NULL for NULL; NULL + ENOMEM otherwise on failure */

#endif /* TT_INTERNAL_H */
