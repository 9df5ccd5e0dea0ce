/* Private structures shared by the src/ files. Nothing here is public API; every function declared
 * here runs on the loop's thread unless its comment says otherwise. Sections follow the files.
 *
 * The map (each file owns one thing; loop.c is the hub that calls the others):
 * The loop and its backends
 *   loop.c      the iteration, the loop's life cycle, the run functions, call_soon
 *   backend.c   the seam: which backend a loop gets (TT_BACKEND, AUTO's fallback),
 *               tt_loop_backend, the cross-thread wake-up, embedding's fd
 *   backend_uring.c  the io_uring backend: ring setup, SQEs, submit, wait + reap. A completion
 *               calls its backend_req's function
 *   backend_epoll.c  the epoll backend: readiness registrations per fd, wait + reap, timeouts
 *   io.c        IO requests and their cancel path (ring ops)    io_epoll.c  their epoll side:
 *               readiness ops, and file ops on the pool
 *   inbox.c     MPSC queue of inbox_node, each carrying its handler; knows none of its users
 *   threadsafe.c  call_soon_threadsafe, tt_loop_submit, tt_cfuture (inbox messages)
 * Tasks, futures, timers
 *   future.c    futures, done-callbacks, aggregates' members (a gather's watch on each child),
 *               reference counts, and the freed loop's shell
 *   task.c      tasks, their switches, tt_loop_dump    coro.c + arch/  contexts
 *   stack.c     stacks, their preparer thread, the overflow report
 *   timer.c     timers (run queues, a 4-ary heap), call_later
 *   alloc.c     the loop's slabs and callback nodes
 * The offload pool
 *   offload.c   tt_to_thread's loop side: jobs, a turn's batches, delivery, cancel, room waits,
 *               the loop's default pool
 *   pool.c      the worker threads and their queue    pool_watch.c  the pool's latency report,
 *               stuck calls, shutdown reports, interrupts. Only these two see inside tt_pool
 *               (pool_impl.h, their private header)
 *   interrupt.c the signal of TT_JOB_INTERRUPT_ON_CANCEL (pool_watch.c sends it)
 * The asyncio layer on futures and tasks
 *   gather.c wait.c group.c sync.c timeout.c  gather, wait/as_completed/wait_for, task groups,
 *               Event/Lock/Semaphore/Queue, timeout scopes    shield.c  shield scopes
 * The server toolkit
 *   stream.c    byte streams, buffered read-until    signal.c  signals by signalfd + tt_poll
 *   net.c       getaddrinfo, listeners, Happy Eyeballs connect    server.c  tt_server_*
 *   process.c   subprocesses: spawn with pipes, await the exit (pidfd), no zombies
 * Observability
 *   hist.c      latency histograms (recording is inline here)    watch.c  the monitor thread of
 *               the detectors (stuck calls: pool_watch.c, stalled loop: loop.c)
 *   debug.c     debug mode's warnings, the live counters (a leaf)
 * Support: error.c  tt_strerror
 *
 * The life of a tt_to_thread call (the job passes through each file once, in this order;
 * loop.c, the hub, twice):
 *   offload.c  tt_to_thread: pool_admit (a look: is the pool up, is there room), a job from the
 *              loop's slabs (future_alloc), appended to this turn's batch for its pool
 *   loop.c     at the end of the turn (loop_iterate), offload_flush hands each batch over...
 *   pool.c     ...pool_enqueue splices it into the queue and wakes a worker, which runs fn
 *   inbox.c    the worker pushes the job's inbox node (backend_wake if the loop sleeps)
 *   loop.c     the loop's inbox_drain calls the node's handler...
 *   offload.c  ...offload_deliver: the job's future completes (future.c queues its waiters)
 *   task.c     the awaiting task resumes in the next turn with the result */
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
#include <sys/epoll.h>
#include <time.h>

/* The one place that tells which sanitizer this is built with (gcc's and clang's spellings). */
#if defined(__SANITIZE_ADDRESS__)
#define TT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TT_TSAN 1
#endif
#endif
#if defined(TT_ASAN) || defined(TT_TSAN)
#define TT_SANITIZING 1
#endif

#define TT_LIKELY(x) __builtin_expect(!!(x), 1)
#define TT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TT_CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ------------------------------------------------------------- live counters (debug.c) */
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

/* ----------------------------------------------------------- observability (hist.c, watch.c) */
/* The bucket of v (see tt_hist in the header): exact below 2 * 16, then 16 per power of two. */
static inline unsigned hist_index(uint64_t v)
{
    if (v < 2u << TT_HIST_SUB_BITS)
        return (unsigned)v;
    unsigned shift = 63u - (unsigned)__builtin_clzll(v) - TT_HIST_SUB_BITS;
    return ((shift + 1) << TT_HIST_SUB_BITS) + (unsigned)(v >> shift) - (1u << TT_HIST_SUB_BITS);
}
/* Records d ns (a negative one, from clocks read on two threads, counts as 0) on a histogram its
 * caller owns or holds the lock of: two plain additions. count and max are left to hist_seal,
 * when it is read (the hot path pays for nothing it does not need). */
static inline void hist_record(tt_hist *h, int64_t d)
{
    uint64_t v = d > 0 ? (uint64_t)d : 0;
    h->buckets[hist_index(v)]++;
    h->sum += v;
}
void hist_seal(tt_hist *h); /* fills count and max from the buckets */

/* A histogram one thread records and others read without a lock: relaxed loads and stores, the
 * same instructions as plain ones. */
typedef struct hist_shared {
    _Atomic uint64_t sum;
    _Atomic uint64_t buckets[TT_HIST_BUCKETS];
} hist_shared;
static inline void hist_shared_record(hist_shared *h, int64_t d)
{
    uint64_t v = d > 0 ? (uint64_t)d : 0;
    _Atomic uint64_t *b = &h->buckets[hist_index(v)];
    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&h->sum, atomic_load_explicit(&h->sum, memory_order_relaxed) + v,
                          memory_order_relaxed);
}
void hist_shared_add_to(tt_hist *dst, const hist_shared *src); /* any thread; seal dst after */

#define WATCH_DEBUG_THRESHOLD TT_SEC(1) /* debug mode's stuck-call and stall threshold */
/* An entry of the process's monitor thread (watch.c): check runs on the monitor thread, with
 * the registry's lock held, every period ns; it returns the period it wants next (its
 * threshold / 4, or 5 ms while interrupts are pending). Embedded in its pool or loop. */
typedef struct watch_entry {
    struct watch_entry *next;
    int64_t (*check)(struct watch_entry *e, int64_t now);
    int64_t period;
    int64_t due;
    bool added;
} watch_entry;
/* Adds e (if not yet) and (re)schedules it period ns from now; starts the monitor thread if it
 * was not running. 0, or -ENOMEM / -EAGAIN. Any thread but the monitor's. */
int watch_add(watch_entry *e, int64_t period);
/* Takes e out; when it was the last, stops the monitor thread and waits for it. Once this
 * returns, e's check runs no more. Any thread but the monitor's. */
void watch_remove(watch_entry *e);
/* Wakes the monitor to look at e within period ns (any thread, e added). */
void watch_poke(watch_entry *e, int64_t period);
/* fn's symbol (dladdr) or its address, into buf. */
void watch_symbol(const void *fn, char *buf, size_t n);
/* Debug mode asked for by the environment (TT_DEBUG set and not "0"). */
bool debug_env(void);

/* Interrupt on cancel (interrupt.c): the signal, installed on first use. 0 or -EBUSY/-EINVAL. */
int interrupt_setup(void);
int interrupt_signo(void); /* the signal installed (interrupt_setup returned 0) */
/* The worker's mask around one interruptible job: the signal is deliverable only in between. */
void interrupt_unblock(void);
void interrupt_block(void);

/* --------------------------------------------------------------- ready queue (loop.c) */
/* Everything runnable on a loop is a ready_item: a task's step, a callback, or a member of an
 * aggregate (future.c: a gather's watch on one child). Items are intrusive, so scheduling a task
 * allocates nothing. */
enum { RK_TASK = 1, RK_CALLBACK = 2, RK_MEMBER = 3 };
typedef struct ready_item {
    struct ready_item *next;
    uint8_t kind;
    uint8_t type; /* a callback's CB_* flags (kept here so a cb_node fits 48 bytes) */
    /* Bytes the alignment would leave empty anyway, used by kind. RK_TASK: its shield state (it
     * keeps a tt_task within the 128-byte slab class). RK_MEMBER: its index in its set, 48 bits
     * (more than an address space holds of 24-byte members). Unused by callbacks. */
    union {
        uint16_t shield_depth;  /* shield scopes entered and not exited */
        uint16_t index_hi;
    };
    union {
        int held_requests;      /* requests held back since the outermost shield was entered */
        uint32_t index_lo;
    };
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
 * CB_CALL: call(arg). CB_EMBEDDED: the node lives inside another object (never on the
 * freelist); if the loop is freed with it still queued, release (when set) frees it. */
enum { CB_DONE = 1, CB_CALL = 2, CB_PUBLIC = 4, CB_EMBEDDED = 8 };
typedef struct cb_node {
    ready_item ri;
    union {
        void (*done)(tt_future *f, void *arg);
        void (*call)(void *arg);
    } fn;
    void *arg;
    tt_future *fut;
    union {
        void (*release)(struct cb_node *n); /* CB_EMBEDDED only */
        size_t slot; /* CB_DONE: the caller's index, read inside the callback (future_cb_slot) */
    };
} cb_node;

/* A member: an aggregate's watch on one future f (a gather's child), 24 bytes with no allocation
 * of its own, where a cb_node and a pointer to f would cost 56. Members live in one array, the
 * set, allocated with their aggregate. A member is on f's callbacks while f is pending and on the
 * ready queue once f is done; then the set's done(set, i) runs. Unlike a callback it holds no
 * reference on f: the aggregate holds one per member until the member has run (or is taken
 * back), and must not be released while a member is linked or queued. Its index
 * (ri's spare bytes) leads back to the set, so no member stores the set's address. */
typedef struct member {
    ready_item ri; /* RK_MEMBER */
    tt_future *f;
} member;
typedef struct member_set {
    void (*done)(struct member_set *s, size_t i); /* the loop context, m[i].f done */
    member m[];
} member_set;
/* Whether a set can have n members: their indexes fit the 48 bits, their array fits size_t. */
static inline bool member_set_fits(size_t n)
{
    return (uint64_t)n >> 48 == 0 && n <= SIZE_MAX / sizeof(member);
}

/* ----------------------------------------------------------------------- timers (timer.c) */
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
bool timer_is_armed_on(const tt_loop *loop, const tt_timer *t);
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
/* The earlier of two absolute deadlines, TT_FOREVER (-1) meaning none. */
static inline int64_t due_earlier(int64_t a, int64_t b)
{
    return a == TT_FOREVER || (b != TT_FOREVER && b < a) ? b : a;
}
/* The one timespec arithmetic: ns split into a timespec, and CLOCK_MONOTONIC now + ns (for
 * pthread_cond_timedwait on a condition variable set to that clock). ns >= 0. */
#define NS_PER_SEC 1000000000
static inline void timespec_from_ns(int64_t ns, int64_t *sec, long *nsec)
{
    *sec = ns / NS_PER_SEC;
    *nsec = (long)(ns % NS_PER_SEC);
}
static inline void timespec_after(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    int64_t n = ts->tv_nsec + ns % NS_PER_SEC;
    ts->tv_sec += ns / NS_PER_SEC + n / NS_PER_SEC;
    ts->tv_nsec = n % NS_PER_SEC;
}
/* A condition variable whose timed waits take timespec_after deadlines. 0 or an errno. */
static inline int cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}
static inline int64_t timespec_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * NS_PER_SEC + ts->tv_nsec;
}
/* An outcome returned as int by the API: failures stay failures even below INT_MIN. */
static inline int outcome_to_int(intptr_t r) { return r < INT32_MIN ? INT32_MIN : (int)r; }

/* --------------------------------------------------------------------- futures (future.c) */
enum { FS_PENDING = 0, FS_DONE = 1 };

typedef struct future_ops {
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
static inline void *future_alloc(tt_loop *loop, size_t size, const future_ops *ops);
/* The same with tail more bytes after the struct, left uninitialised: an array the caller fills
 * (a gather's million members are written once, not zeroed first). */
void *future_alloc_tail(tt_loop *loop, size_t size, size_t tail, const future_ops *ops);
/* Completes f: stores result, schedules its callbacks and waiters. Returns -EBUSY if done. */
int future_complete(tt_future *f, intptr_t result);
/* tt_cancel without the checks: 1 if a cancel was requested, 0 if f was done. */
int future_cancel(tt_future *f, const char *msg);
/* Completes f as cancelled with a copy of msg (NULL: none). */
int future_complete_cancelled(tt_future *f, const char *msg);
/* Adds an internal done-callback (not removable by tt_remove_done). 0 or -ENOMEM. */
int future_add_cb(tt_future *f, void (*cb)(tt_future *, void *), void *arg);
/* The same, carrying an index (a group's slot, an iterator's input) that the callback reads
 * with future_cb_slot: one shared arg for many futures, no per-future allocation. */
int future_add_cb_slot(tt_future *f, void (*cb)(tt_future *, void *), void *arg, size_t slot);
size_t future_cb_slot(void); /* valid inside a callback added with future_add_cb_slot */
/* The same with a node the caller already holds (cb_node_get): cannot fail. */
void future_add_cb_node(tt_future *f, cb_node *n, uint8_t type,
                        void (*cb)(tt_future *, void *), void *arg);
/* Takes a ready item (a waiting task's, a member's) off pending f's list, where it must be. */
void future_unlink_waiter(tt_future *f, ready_item *it);
/* Removes an internal callback added with the same (cb, arg); returns how many. */
int future_remove_cb(tt_future *f, void (*cb)(tt_future *, void *), void *arg);
/* Member i of set s starts watching f: linked on f's callbacks if f is pending (its turn comes
 * after f's earlier callbacks and waiters); if f is done the caller queues m->ri itself.
 * Inline: a gather registers a million in one loop. */
static inline void future_add_member(tt_future *f, member_set *s, size_t i)
{
    member *m = &s->m[i];
    m->ri.kind = RK_MEMBER;
    m->ri.index_hi = (uint16_t)((uint64_t)i >> 32);
    m->ri.index_lo = (uint32_t)i;
    m->f = f;
    m->ri.next = NULL;
    if (f->state != FS_DONE) {
        *f->cb_tailp = &m->ri;
        f->cb_tailp = &m->ri.next;
    }
}
void future_remove_member(member *m); /* takes a member back off its pending future */
/* The loop's dispatch of a callback or a member taken from the ready queue. */
void future_run_item(tt_loop *loop, ready_item *it);
/* Loop-checking for public entry points: 0, or -EINVAL / -EPERM. */
int future_check(const tt_future *f);
void future_release(tt_future *f); /* frees f's memory (its last reference went) */
extern const future_ops job_ops; /* offload.c */
static inline bool future_is_job(const tt_future *f) { return f && f->ops == &job_ops; }
/* A job is a task that cannot be interrupted: cancelled while it runs, it ends with what fn
 * returns. A task whose await of it was cancelled receives that value, and its cancellation
 * stays pending for its next suspension point. These tell the await when that applies. */
static inline bool job_runs_on(const tt_future *f)
{
    return future_is_job(f) && f->state != FS_DONE;
}
static inline bool job_value_wins(const tt_future *f)
{
    return future_is_job(f) && f->state == FS_DONE && f->result != -ECANCELED;
}

/* ------------------------------------------------------------------ context switch (coro.c) */
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
/* Saves the current context in from and resumes to. Inline for the plain assembly switch: the
 * switch is the floor of every suspension, and a wrapper call would add to it. */
#ifndef TT_CORO_UCONTEXT
void tt__ctx_switch(void **save_sp, void *load_sp); /* arch/switch_*.S */
#endif
#if !defined(TT_SANITIZING) && !defined(TT_CORO_UCONTEXT)
static inline void ctx_switch(tt_ctx *from, tt_ctx *to) { tt__ctx_switch(&from->sp, to->sp); }
#else
void ctx_switch(tt_ctx *from, tt_ctx *to);
#endif
/* Leaves a context for good (its stack may be reused right after). */
void ctx_exit_to(tt_ctx *dying, tt_ctx *to);
/* Called first on a fresh context's stack. */
void ctx_entered(tt_ctx *self);
void ctx_destroy(tt_ctx *ctx); /* sanitizer fiber cleanup; not for the running context */
void cpu_relax(void); /* spin-wait hint */
int ctx_init_thread(tt_ctx *ctx); /* the loop thread's own context; 0/-ENOMEM */

/* ------------------------------------------------------------------------ stacks (stack.c) */
#define TT_MAX_STACK ((size_t)1 << 30) /* larger stack sizes are refused with EINVAL */
/* A stack of the loop's default size keeps this descriptor in the top DESC_ROOM bytes of its own
 * stack (the page a task touches first); stacks of other sizes carry it in a malloc'd block. */
typedef struct tt_stack {
    union {
        struct tt_stack *next_free; /* pooled (stacks of other sizes only) */
        struct tt_task *task;       /* in use: the task on it (how dumps find started tasks) */
    };
    void *lo;          /* lowest usable address (just above the guard) */
    size_t size;       /* usable bytes */
    size_t guard;      /* bytes of guard just below lo */
    struct stack_chunk *chunk; /* a default-size stack's chunk (NULL: a stack of its own) */
    unsigned index;    /* its slot's index there */
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

/* -------------------------------------------------------------------------- tasks (task.c) */
enum { TS_NEW = 0, TS_READY, TS_RUNNING, TS_WAITING, TS_DONE };
enum { WAIT_NONE = 0, WAIT_FUTURE, WAIT_SLEEP, WAIT_OTHER };

/* What a task waits on when it is neither a future nor a sleep (an IO request): its owner's
 * hooks for tt_cancel and tt_loop_dump, so task.c needs to know nothing about it. Lives in the
 * waiting frame, embedded in the owner's request. */
typedef struct task_waiter {
    void (*cancel)(tt_loop *loop, struct task_waiter *w);
    void (*describe)(const struct task_waiter *w, char *buf, size_t n);
} task_waiter;

/* A task is sized for the 128-byte slab class: W4's spawn-join of a million tasks spends its
 * time in cache misses on these objects, so each field costs. What only a started task needs
 * (fn and arg once it has a stack) is in the loop, for the moment between the two. The shield
 * state lives in the ready item's spare bytes (ri.shield_depth, ri.held_requests); the rarely
 * written cancel flags are bits. */
typedef struct tt_task {
    tt_future fut;
    union {                     /* in the future's cache line: both are read at every switch */
        uint32_t stack_size;    /* TS_NEW: the size asked for; 0: the loop's default */
        tt_stack *stack;        /* started: its stack (and context) until it is released */
    };
    ready_item ri;              /* RK_TASK: scheduled to take a step */
    union {
        struct {                /* TS_NEW (the loop holds them for the first switch) */
            tt_fn fn;
            void *arg;
        };
        struct {                /* started */
            tt_ctx ctx;         /* here, not in the stack: a switch reads the task anyway */
            union {             /* by wait_kind; the last two live in the suspended frame */
                tt_future *waiting_on;  /* WAIT_FUTURE (asyncio's _fut_waiter) */
                tt_timer *sleep_timer;  /* WAIT_SLEEP */
                task_waiter *waiter;    /* WAIT_OTHER */
            };
        };
    };
    int cancel_requests;        /* cancelling() */
    uint8_t state;
    uint8_t wait_kind;
    uint8_t must_cancel;        /* a request to deliver at the next resume */
    uint8_t cancel_soft : 1;    /* ... that came back with a job's value (or wait_for's): a
                                   return before the next suspension keeps the task's value */
    uint8_t cancel_held : 1;    /* a request held back by a shield scope, delivered at exit */
    char *req_msg;              /* message of the first pending request; freed (or handed to
                                   the future as its cancel message) when the task ends */
    /* In the second line although a task's release reads it: with it in the first, W4's walk
     * releasing a million tasks read one line in two and ran slower (~17 against ~10 ms, the
     * hardware prefetches a dense walk better), though the cache simulation counts a miss less. */
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
/* Suspends t on w (WAIT_OTHER: an IO request's, a sync or wait_for waiter's) until w's owner
 * wakes it. With take_pending, a cancel request already pending goes to w's cancel hook first,
 * so the wait ends at once and the request is delivered one turn later. */
static inline void task_wait_other(tt_task *t, task_waiter *w, bool take_pending)
{
    t->waiter = w;
    t->wait_kind = WAIT_OTHER;
    t->state = TS_WAITING;
    if (take_pending && t->must_cancel)
        w->cancel(t->fut.loop, w);
    task_suspend(t);
    t->wait_kind = WAIT_NONE;
    t->waiter = NULL;
}
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
/* After handing back a value that answered a cancel (a job's, wait_for's inner's): the request
 * is delivered at the next suspension point, but returning first keeps the task's own value
 * (as in Trio, and asyncio 3.12's wait_for). */
void task_keep_cancel_soft(tt_task *t);
/* tt_run's shutdown: cancels the live tasks whose id is above after_id. */
void task_cancel_all(tt_loop *loop, uint64_t after_id, const char *msg);
/* A cancel request from a scope (a timeout) entered at shield depth depth: it passes the
 * shields entered before that scope, and is held back by those entered inside it. 1 or 0. */
int task_cancel_from_scope(tt_task *t, unsigned depth);
void task_free_dead(tt_loop *loop);
void task_report_alive(tt_loop *loop); /* debug mode: tt_loop_free refused, tasks alive */

/* ---------------------------------------------------------------------- the inbox (inbox.c) */
/* Messages from other threads: an intrusive Vyukov MPSC queue. Each node carries the handler the
 * loop's drain calls (the stub's is NULL and never called). */
typedef struct inbox_node {
    _Atomic(struct inbox_node *) next;
    void (*handle)(tt_loop *loop, struct inbox_node *n);
} inbox_node;

typedef struct inbox {
    _Atomic(inbox_node *) tail; /* producers */
    inbox_node *head;           /* the loop */
    inbox_node stub;
} inbox;

void inbox_init(inbox *q);
void inbox_push(tt_loop *loop, inbox_node *n); /* any thread: push and wake if asleep */
int inbox_drain(tt_loop *loop);                /* loop thread: handle every message; count */
static inline bool inbox_empty(inbox *q) /* loop thread; inline: every turn boundary asks */
{
    return q->head == &q->stub && atomic_load(&q->tail) == &q->stub;
}

/* -------------------------------- the backends (backend.c, backend_uring.c, backend_epoll.c) */
/* The boundary of the kernel interface (Redis's ae.c backends): setup, requests, wait + reap,
 * and the cross-thread wake-up. Each loop picks its backend at creation (backend.c: TT_BACKEND,
 * tt_loop_opts.backend, AUTO = io_uring else epoll); the backend_* calls below switch on its kind,
 * io_uring's case first with a direct call: the ring's path pays one predictable branch per loop
 * iteration and one per IO call (callgrind: W5 +0.003% instructions, an IO ping-pong +0.16%).
 * A request's owner embeds a backend_req; a completion calls req->complete with the result and
 * the backend knows nothing else about it.
 *   io_uring: io.c prepares SQEs (io_uring_prep_* on what backend_sqe returns).
 *   epoll: io.c runs a socket-like op as a nonblocking attempt retried whenever its fd reports
 *   readiness (an ep_watch, whose completion carries the events), and a file op on the pool. */
enum { BACKEND_URING = 0, BACKEND_EPOLL = 1 };

typedef struct backend_req {
    void (*complete)(tt_loop *loop, struct backend_req *r, int res);
} backend_req;

/* epoll: one task waiting until fd reports one of events (EPOLLIN, EPOLLOUT...); complete gets
 * the events seen. Waiters of one fd are listed on its slot (one epoll registration per fd). */
typedef struct ep_watch {
    backend_req req;
    struct ep_watch *prev, *next;
    int fd;
    uint32_t events;
} ep_watch;

typedef struct ep_slot {
    ep_watch *head, *tail;
    uint32_t armed;   /* the events of the (one-shot) registration armed now; 0 once it fired */
    uint32_t drained; /* events a short transfer found exhausted, until epoll reports them */
} ep_slot;

typedef struct backend {
    /* Both backends keep these two, so backend_busy needs no switch (side by side, first: the
     * compiler tests both with one 8-byte compare). */
    int sq_pending;             /* io_uring: SQEs prepared but not submitted; epoll: 0 */
    int io_pending;             /* io_uring: requests and cancels whose completion has not been
                                   reaped; epoll: ep_watch registered */
    uint8_t kind;               /* BACKEND_*: written once by backend_init */
    bool event_armed;           /* io_uring: a read of event_fd is on the ring; epoll: always
                                   true (it watches event_fd), so arming needs no switch */
    int event_fd;               /* the wake-up: producers write it while the loop sleeps */
    uint64_t event_buf;
    int embed_fd;               /* tt_loop_fd's fd, created lazily, owned here; -1 */
    atomic_int host_fd;         /* io_uring: embed_fd once it exists, for producers (else -1) */
    union {
        struct { /* io_uring */
            struct io_uring ring;
            backend_req event_req;
        };
        struct { /* epoll */
            int ep_fd;
            int ep_timer_fd;    /* sub-ms timeouts where epoll_pwait2 is missing; else -1 */
            int ep_nready;      /* events of the last wait, for epoll_reap */
            struct epoll_event *ep_events;
            ep_slot *ep_slots;  /* by fd */
            size_t ep_nslots;
        };
    };
} backend;

/* backend.c: chooses and sets up the loop's backend. kind: TT_BACKEND_* of the options (AUTO:
 * the TT_BACKEND environment variable, else io_uring falling back to epoll, said once in debug
 * mode). 0 or -errno (-EINVAL for a bad TT_BACKEND, with a line on stderr). */
int backend_init(tt_loop *loop, int kind, unsigned entries, bool debug);
void backend_wake(tt_loop *loop); /* any thread: ends the loop's wait */

/* backend_uring.c. uring_init prints why the ring was refused unless quiet. */
int uring_init(tt_loop *loop, unsigned entries, bool quiet);
const char *uring_refusal(int rc); /* what io_uring_setup's -errno usually means */
void uring_free(tt_loop *loop);
/* An SQE for the loop's thread, submitting first if the ring is full; NULL if impossible. */
struct io_uring_sqe *backend_sqe(tt_loop *loop);
/* Tags sqe with r: r->complete runs at its completion. */
void backend_start(tt_loop *loop, struct io_uring_sqe *sqe, backend_req *r);
/* Asks the kernel to cancel r (its own completion still comes). false if no SQE was free. */
bool backend_cancel(tt_loop *loop, backend_req *r);
void uring_wait(tt_loop *loop, int64_t timeout);
void uring_reap(tt_loop *loop);
void uring_arm_wake(tt_loop *loop);
void uring_flush(tt_loop *loop);
int uring_embed_fd(tt_loop *loop);
void uring_embed_consume(tt_loop *loop); /* the host saw the embedding fd readable */

/* backend_epoll.c */
int epoll_init(tt_loop *loop);
void epoll_free(tt_loop *loop);
void epoll_wait_for(tt_loop *loop, int64_t timeout);
void epoll_reap(tt_loop *loop);
/* Registers w: w->req.complete(loop, w, events) runs once fd reports one of w->events, an error
 * or a hang-up. 0, or -errno of epoll_ctl (-EPERM: a file epoll cannot watch), -ENOMEM. */
int epoll_watch(tt_loop *loop, ep_watch *w);
void epoll_unwatch(tt_loop *loop, ep_watch *w); /* w's completion will not come */
void epoll_forget_fd(tt_loop *loop, int fd);     /* fd is about to be closed */
/* A hint, never a promise: a short transfer marks fd's events drained, and the next call waits
 * for epoll's word before trying (arming reports readiness that is already there, so a wrong
 * hint costs one loop turn, never a lost wake-up). */
bool epoll_drained(tt_loop *loop, int fd, uint32_t events);
void epoll_set_drained(tt_loop *loop, int fd, uint32_t events);

/* io_epoll.c: io.c's calls on the epoll backend, in the calling task t. One io_args carries any
 * call's arguments (each uses what it needs); the functions may change its fields. */
typedef struct io_args {
    int fd;                 /* the fd, or openat's dfd */
    int flags;              /* the call's flags, fsync's, poll's events, shutdown's how */
    void *buf;
    size_t n;
    int64_t off;            /* -1: the current position */
    struct sockaddr *addr;  /* accept's out, connect's in */
    socklen_t *lenp;
    socklen_t len;
    const char *path;       /* openat's, statx's */
    mode_t mode;
    const struct iovec *iov; /* readv/writev (n: their total length) */
    int iovcnt;
    struct msghdr *msg;     /* sendmsg/recvmsg (n: the total length of msg_iov) */
    unsigned mask;          /* statx's */
    struct statx *stx;
} io_args;
intptr_t ep_read(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_write(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_recv(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_send(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_accept(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_connect(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_poll(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_close(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_openat(tt_task *t, io_args *a);
intptr_t ep_fsync(tt_task *t, io_args *a);
intptr_t ep_readv(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_writev(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_sendmsg(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_recvmsg(tt_loop *loop, tt_task *t, io_args *a);
intptr_t ep_statx(tt_task *t, io_args *a);
intptr_t ep_shutdown(tt_task *t, io_args *a);

/* The seam: what the loop calls, whichever the backend. */
static inline bool backend_is_uring(const tt_loop *loop);
/* Waits for completions at most timeout ns (0: just looks); after a wait that could sleep,
 * clears the loop's sleeping flag (producers stop writing the eventfd) before it runs them. */
static inline void backend_poll(tt_loop *loop, int64_t timeout);
static inline void backend_arm_wake(tt_loop *loop); /* before sleeping: a wake-up ends the wait */
static inline void backend_flush(tt_loop *loop);    /* submits what is prepared */
/* Completions are reaped without sleeping right now (the spin's test; epoll cannot tell). */
static inline bool backend_ready(tt_loop *loop);
static inline bool backend_busy(tt_loop *loop);     /* requests are in flight */
void backend_free(tt_loop *loop);
/* tt_loop_fd: a pollable fd that turns readable when the loop has work (the backend's own);
 * consume takes that readiness back before a run, signal makes it readable (work is left). */
int backend_embed_fd(tt_loop *loop);
void backend_embed_consume(tt_loop *loop);
void backend_embed_signal(tt_loop *loop);

/* ------------------------------------------------------- the pool (pool.c, pool_watch.c) */
/* A job crosses from offload.c (which creates and delivers it) to pool.c (which runs it): the
 * one structure both sides read, each field's owner noted. */
typedef struct job job;

/* J_QUEUED: in the loop's batch or the pool's queue. J_DEQUEUED: cancelled before it ran; it
 * may still sit in the queue (removal is lazy, so the queue is a singly linked list a batch
 * joins in O(1)); a worker meeting it sends it back to its loop without running it. */
enum { J_QUEUED = 1, J_RUNNING, J_FINISHED, J_DEQUEUED };

struct job {
    tt_future fut;           /* fut.loop is the job's loop, written once before it is queued */
    inbox_node in;           /* completion message to the loop (offload_deliver) */
    struct job *next;        /* the loop's batch, the pool's queue, or (off the queue) the
                                shell's graveyard and a detach's list */
    tt_pool *pool;
    tt_fn fn;
    void *arg;
    intptr_t result;         /* written by the worker before it sends the message */
    uint8_t state;           /* pool lock once handed over */
    uint8_t cancel_requested;
    uint8_t orphan;          /* pool lock: its loop was freed while it ran */
    uint8_t has_opts;        /* opts[0] is there: plain jobs stay in a 128-byte slot */
    atomic_int stop;         /* tt_job_cancelled() */
    int64_t stamp;           /* submitted (the loop's turn time), then fn's end if timed */
    tt_job_opts opts[];
};

_Static_assert(sizeof(job) <= 128, "a plain job fills one 128-byte slab slot");
static inline const tt_job_opts *job_opts(const job *j) { return j->has_opts ? j->opts : NULL; }

/* A loop's registration with a pool: where the pool sends room notices (the node's handler runs
 * on the loop), and what tt_pool_free checks. */
typedef struct pool_client pool_client;
pool_client *pool_client_new(tt_pool *p, tt_loop *loop, inbox_node *room_notice); /* NULL: ENOMEM */
/* Observability: c's loop records its resume latencies for p in h (the loop's, freed after
 * pool_detach, which folds it into the pool's). */
void pool_client_resume_hist(tt_pool *p, pool_client *c, const hist_shared *h);
/* Whether a job can be queued now: 0, 1 if the bounded queue is full, -ESHUTDOWN, or -EAGAIN
 * when no worker could be started. Cheap when the pool is running and unbounded. */
int pool_admit(tt_pool *p);
bool pool_bounded(tt_pool *p); /* it has a queue_limit */
/* 1 if the bounded queue is full (then c gets a room notice when it shrinks), else 0. */
int pool_want_room(tt_pool *p, pool_client *c);
void pool_room_noticed(tt_pool *p, pool_client *c); /* c's notice was handled: it may come again */
/* Appends a turn's batch head..tail (n jobs) to the queue and staffs it: 0, or -ESHUTDOWN or
 * -EAGAIN (shut down, or no thread left and none can start: the caller fails the batch). */
int pool_enqueue(tt_pool *p, job *head, job *tail, size_t n);
/* A batch given fewer workers than jobs (pool.c, staff) that is still queued STAFF_ESCALATE_NS
 * later gets every idle worker: the loops with jobs in flight call this at every iteration, and
 * a quiet turn goes back to the loop when the time comes (task.c). Returns when to call again
 * (TT_FOREVER: nothing to watch). */
int64_t pool_check_staff(tt_pool *p);
/* tt_cancel of a job: JC_NONE (a shutdown already dequeued it), JC_DEQUEUED (it will never run),
 * JC_STOPPING (asked to stop: running or finished), JC_STOPPING_NOW (the first request, while
 * it runs: its unblock is due). */
enum { JC_NONE = 0, JC_DEQUEUED, JC_STOPPING, JC_STOPPING_NOW };
int pool_cancel(job *j);
/* The loop of c is going away: unregisters c and frees it, returns its queued jobs (a list on
 * next, dequeued and counted as cancelled) and calls orphan(j) under the pool lock for each of
 * its running jobs, which a worker finishes and releases (shell_bury_job). */
job *pool_detach(tt_pool *p, pool_client *c, void (*orphan)(job *j));
/* tt_pool_free on a loop's thread: unregisters c and frees it unless a room notice is on its
 * way to the loop (false: c stays, and goes with the loop). */
bool pool_client_release(tt_pool *p, pool_client *c);
void pool_attach(tt_pool *p, int delta);   /* a loop takes (1) or leaves (-1) p as its default */
/* Frees p (shut down, no clients) now, or when its last worker leaves. */
void pool_free_when_idle(tt_pool *p);
/* A cancelled running job with TT_JOB_INTERRUPT_ON_CANCEL: signals its worker now and every 5 ms
 * until fn returns. */
void pool_interrupt(job *j);

/* -------------------------------------------------------- offloading (offload.c), loop side */
struct offload_link;
typedef struct loop_offload {
    tt_pool *pool;              /* default pool */
    bool pool_owned;
    size_t submit_pending;      /* jobs batched during a turn, flushed at its end */
    long jobs_inflight;         /* jobs of this loop not yet delivered */
    struct offload_link *links; /* one per pool this loop has used */
    int64_t drain_now;          /* the drain's clock, read at its first timed delivery; 0: not
                                   yet (loop_iterate reuses it for the turn and resets it) */
    int64_t staff_due;          /* when a pool's short-staffed batch is to be checked
                                   (offload_check_staff); TT_FOREVER: none. Quiet turns honour
                                   it. */
} loop_offload;

void offload_init(tt_loop *loop, tt_pool *pool); /* tt_loop_opts.pool (may be NULL) */
void offload_flush(tt_loop *loop);               /* end of a turn: hand batched jobs to pools */
/* pool_check_staff on each pool the loop used, if it has jobs in flight; the earliest time to
 * call again (TT_FOREVER: none), also kept in loop->off.staff_due. */
int64_t offload_check_staff(tt_loop *loop);
/* Loop free: cancels the loop's queued jobs and asks its running ones to stop; they are all
 * delivered or orphaned when it returns. */
void offload_detach(tt_loop *loop);
/* tt_pool_free on loop's thread: drops loop's idle link to the freed pool p. */
void offload_forget(tt_loop *loop, tt_pool *p);
void offload_links_free(tt_loop *loop);          /* after the loop's last inbox drain */
void offload_release_default(tt_loop *loop, int64_t timeout);
void offload_shutdown_default(tt_loop *loop);    /* tt_run: the default pool's jobs run out */
/* The inbox handler of a job the pool timed: records its resume latency, then delivers it. */
void offload_deliver_timed(tt_loop *loop, inbox_node *n);

/* ------------------------------------------------------------------- allocation (alloc.c) */
enum { SIZE_CLASSES = 6 };
#define SLAB_CLASS_SIZES {48, 64, 128, 192, 256, 384}
typedef struct loop_alloc {
    void *free_objs[SIZE_CLASSES];  /* freed objects, taken first */
    char *bump[SIZE_CLASSES];       /* the newest slab's next untouched object ... */
    char *bump_end[SIZE_CLASSES];   /* ... and its end (bump == bump_end: none left) */
    size_t slab_next[SIZE_CLASSES]; /* the next slab's size per class */
    struct slab *slabs;
} loop_alloc;
/* Loop-owned objects (futures, tasks, jobs, callback nodes) come from per-class freelists, then
 * from the newest slab (64 KiB growing to 2 MiB); the memory goes back only with the loop (its
 * shell, see below). */
void *slab_get(tt_loop *loop, unsigned cls); /* NULL on ENOMEM */
void slab_put(tt_loop *loop, unsigned cls, void *p);
/* SIZE_CLASSES if too big for a slab. Inline: a constant size (a task's) folds to its class. */
static inline unsigned slab_class(size_t size)
{
    static const uint16_t sizes[SIZE_CLASSES] = SLAB_CLASS_SIZES;
    unsigned c = 0;
    while (c < SIZE_CLASSES && sizes[c] < size)
        c++;
    return c;
}
void slab_free_all(tt_loop *loop);
cb_node *cb_node_get(tt_loop *loop);  /* NULL on ENOMEM */
void cb_node_put(tt_loop *loop, cb_node *n);

/* ---------------------------------------------------------------- the loop's shell (future.c) */
/* A freed loop stays as a shell while futures still point into its slabs or workers still run
 * its orphaned jobs. After tt_loop_free every reference change and release goes between
 * shell_enter and shell_leave (any thread); the last leave of a closed, empty shell frees it. */
typedef struct loop_shell {
    pthread_mutex_t mu;         /* recursive: a release can release more */
    int depth;
    struct job *graveyard;      /* orphaned jobs a worker finished, released once closed */
    long live_futures;          /* futures still pointing here */
} loop_shell;
void shell_init(tt_loop *loop);
void shell_enter(tt_loop *loop);
void shell_leave(tt_loop *loop);
void shell_close(tt_loop *loop);   /* tt_loop_free's end: the loop becomes a shell */
void shell_bury_job(job *j);       /* a worker: an orphaned job finished */

/* ------------------------------------------------------------------------ the loop (loop.c) */
typedef struct loop_timers {
    size_t armed;               /* in the heap or a run queue */
    heap_slot *heap;
    size_t len, cap;
    uint64_t seq;
    struct runqs *runqs;        /* TIMER_RUNQS FIFOs of timers in deadline order */
    struct later_timer **later; /* call_later timers by id */
    size_t later_cap, later_len;
    uint64_t later_next_id;
} loop_timers;

typedef struct loop_wake {
    inbox in;
    atomic_int sleeping;        /* producers wake the backend only when set */
} loop_wake;

struct tt_loop {
    ready_list ready;
    ready_item *batch_last;     /* the last item of the current turn; NULL between turns */
    uint64_t steps;             /* callbacks and task steps run (tt_loop_run_once's count) */
    tt_ctx ctx;                 /* the loop's own context (the thread's stack) */
    tt_task *current;           /* the running task, or NULL in the loop context */
    tt_task *dead;              /* a finished task whose stack awaits release */
    /* STEP_DEBUG | STEP_WATCH: a task step is timed (debug mode) or published (the watchdog).
     * One byte in the switch's cache line, so the switch tests both with one branch. */
    uint8_t step_hooks;
    /* Each part below is written by the file named, and read elsewhere only as noted there. */
    backend backend;            /* backend.c and the backend of its kind */
    loop_timers timers;         /* timer.c */
    loop_wake wake;             /* inbox.c and the loop's wait */
    loop_alloc alloc;           /* alloc.c */
    stack_pool *stacks;         /* stack.c */
    size_t default_stack;
    struct {
        size_t n;
        uint64_t next_id;
        int64_t step_started_at; /* debug mode: when the current task step began */
        tt_fn entering_fn;      /* the body of the task being switched to for its first step */
        void *entering_arg;
    } tasks;                    /* task.c */
    loop_offload off;           /* offload.c */
    loop_shell shell;           /* future.c */
    bool closed;                /* freed by the user; the shell lives while futures do */
    bool closing;               /* inside tt_loop_free: submissions are refused */
    bool in_run;
    int debug;
    tt_future *run_target;      /* tt_loop_run_until's future: the loop must come back */
    /* observability (loop.c): lag histograms, the turn's clock, the watchdog */
    tt_loop_lag lag;
    int64_t turn_start;         /* clock at the current turn's start: also jobs' submit time */
    bool turn_left_work;        /* the last turn ended with items queued for the next */
    struct loop_watchdog {
        bool on;                /* the loop's thread: publish steps */
        _Atomic uint64_t beat;  /* +1 at every step's start and at its end */
        _Atomic(void *) busy;   /* the running task, the loop itself for a callback, or NULL */
        int64_t after;          /* the threshold; the rest is the monitor's (registry lock) */
        uint64_t seen_beat, reported_beat;
        int64_t seen_at;
        watch_entry entry;
    } watchdog;
};

static inline bool backend_is_uring(const tt_loop *loop)
{
    return TT_LIKELY(loop->backend.kind == BACKEND_URING);
}
static inline void backend_poll(tt_loop *loop, int64_t timeout)
{
    /* One switch for the three steps: the ring's path pays a single predictable branch. */
    if (backend_is_uring(loop)) {
        uring_wait(loop, timeout);
        if (timeout != 0)
            atomic_store(&loop->wake.sleeping, 0);
        uring_reap(loop);
    } else {
        epoll_wait_for(loop, timeout);
        if (timeout != 0)
            atomic_store(&loop->wake.sleeping, 0);
        epoll_reap(loop);
    }
}
static inline void backend_arm_wake(tt_loop *loop)
{
    if (!loop->backend.event_armed)
        uring_arm_wake(loop);
}
static inline void backend_flush(tt_loop *loop)
{
    if (backend_is_uring(loop))
        uring_flush(loop); /* epoll has nothing batched */
}
static inline bool backend_ready(tt_loop *loop)
{
    return backend_is_uring(loop) && io_uring_cq_ready(&loop->backend.ring);
}
static inline bool backend_busy(tt_loop *loop)
{
    return loop->backend.sq_pending || loop->backend.io_pending;
}

/* Prefetches what the item after the one being popped (b) will touch when it runs: b's
 * suspended frames (a timeout's task resumes through ~400 bytes of them), the first line of its
 * task, and the item after b. A loop waking many tasks at once (timers firing, a gather ending)
 * resumes them in an order no hardware prefetcher can guess, each on a stack page last touched
 * long ago: without this, every resume waited for its stack's lines one miss at a time (W7 warm
 * took 0.21 s against 0.15 s with this alone). b's own line was prefetched one pop earlier, as
 * the item after its predecessor. */
static inline void ready_prefetch(ready_item *b)
{
    ready_item *c = b->next;
    if (c)
        __builtin_prefetch(c, 1);
    if (b->kind == RK_TASK) {
        tt_task *t = TT_CONTAINER_OF(b, tt_task, ri);
        if (t->state != TS_NEW) {
            const char *sp = t->ctx.sp;
            __builtin_prefetch(&t->fut, 1);
            for (int i = 0; i < 8; i++)
                __builtin_prefetch(sp + 64 * i, 1);
        }
    }
}
/* Takes the head of the ready queue (which must not be empty), ending the turn after its last
 * item. */
static inline ready_item *ready_pop(tt_loop *loop)
{
    ready_item *it = loop->ready.head;
    /* Not for the last item: a task that yields (W5's ping-pong) is that item while it is still
     * running, and its frames are about to be saved, not read. */
    if (it->next && it->next->next)
        ready_prefetch(it->next);
    loop->ready.head = it->next;
    if (!it->next)
        loop->ready.tailp = &loop->ready.head;
    if (it == loop->batch_last)
        loop->batch_last = NULL;
    return it;
}
static inline void loop_push_ready(tt_loop *loop, ready_item *it)
{
    ready_list_push(&loop->ready, it);
    /* Work added by an embedding host between iterations (tt_spawn, tt_call_soon...): nobody
     * runs the loop, so its fd must say so. One predictable branch: in_run is set whenever the
     * loop itself runs. */
    if (TT_UNLIKELY(!loop->in_run) && loop->backend.embed_fd >= 0)
        backend_embed_signal(loop);
}

/* future_alloc (declared with the futures) is inline: a task's spawn picks the slab class and
 * clears the object without a call (callgrind W4: ~40 instructions less per task). */
static inline void future_init(tt_future *f, tt_loop *loop, unsigned cls, const future_ops *ops)
{
    f->refs = 1;
    f->size_class = (uint8_t)cls;
    f->loop = loop;
    f->ops = ops;
    f->cb_tailp = &f->cb_head;
    loop->shell.live_futures++;
    live_add(LIVE_FUTURES, 1);
}
/* Clears a new object of size bytes (mostly a constant). gcc turns the memset of a task's 128 bytes
 * into a rep stos, which costs twice what 16-byte stores do on fresh memory (~15 against ~7 ns
 * an object, W4's million spawns). Slab objects (every size up to 384) are 16-byte aligned. */
static inline void object_clear(void *p, size_t size)
{
    typedef char v16 __attribute__((vector_size(16), may_alias));
    if (size % 16 == 0 && size <= 256) {
#pragma GCC unroll 16
        for (size_t i = 0; i < size; i += 16)
            *(v16 *)__builtin_assume_aligned((char *)p + i, 16) = (v16){0};
    } else {
        memset(p, 0, size);
    }
}
static inline void *future_alloc(tt_loop *loop, size_t size, const future_ops *ops)
{
    unsigned c = slab_class(size);
    tt_future *f = c < SIZE_CLASSES ? slab_get(loop, c) : malloc(size);
    if (!f)
        return NULL;
    object_clear(f, size);
    future_init(f, loop, c, ops);
    return f;
}
enum { STEP_DEBUG = 1, STEP_WATCH = 2 };

/* The watchdog's view of the loop's thread: a step of what (a task, or the loop for a callback)
 * begins, or (NULL) the loop is back. Two relaxed stores, only while a watchdog is set. */
static inline void watchdog_step(tt_loop *loop, void *what)
{
    if (TT_UNLIKELY(loop->watchdog.on)) {
        uint64_t b = atomic_load_explicit(&loop->watchdog.beat, memory_order_relaxed);
        atomic_store_explicit(&loop->watchdog.beat, b + 1, memory_order_relaxed);
        atomic_store_explicit(&loop->watchdog.busy, what, memory_order_release);
    }
}
void loop_watch_stop(tt_loop *loop);

/* The loop of this thread (NULL if none). */
extern _Thread_local tt_loop *tls_loop;
static inline bool loop_on_thread(const tt_loop *l) { return l && tls_loop == l && !l->closed; }
/* A public call's loop argument: NULL means this thread's loop. The loop if the caller may use it
 * here (its own thread, not freed), else NULL: the call answers -EPERM. */
static inline tt_loop *loop_here(tt_loop *l) { return loop_on_thread(l ? l : tls_loop) ? (l ? l : tls_loop) : NULL; }
/* Runs one loop iteration; timeout as tt_loop_run_once. */
int loop_iterate(tt_loop *loop, int64_t timeout);

/* ------------------------------------------------------------------------ debugging (debug.c) */
void debug_warn(tt_loop *loop, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Debug mode's never-retrieved check of a released future (task_name: NULL for other kinds). */
void debug_unretrieved(tt_future *f, const char *task_name);

/* ------------------------------------------------------------------ server toolkit (net.c) */
struct addrinfo;
/* tt_connect_tcp after resolution (net.c): Happy Eyeballs over res (borrowed). In a task. */
intptr_t net_connect_addrs(const struct addrinfo *res);

/* --------------------------------------------------------------------------- misc (error.c) */
char *tt_strdup_or_null(const char *s); /* NULL for NULL; NULL + ENOMEM otherwise on failure */

#endif /* TT_INTERNAL_H */
