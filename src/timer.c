/* Timers: a FIFO run queue for timers armed in deadline order and a 4-ary min-heap for the
 * rest, both ordered by (deadline, arming order), and call_later handles found by id. The ring
 * only ever waits for the nearest deadline. */
#include "internal.h"

#include <time.h>

int64_t clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t tt_now(void) { return clock_now(); }

/* Heap slots carry their keys, so sifting compares without touching the timers themselves
 * (each lives in a different task or waiter: one cache miss per level otherwise). */
static inline bool before(const heap_slot *a, const heap_slot *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static inline void heap_set(tt_loop *loop, size_t i, heap_slot v)
{
    loop->heap[i] = v;
    v.timer->index = (uint32_t)i + 1;
}

/* Four children per node: half the levels of a binary heap, and a node's children share one or
 * two cache lines, so popping the earliest of a million timers misses cache half as often. */
#define HEAP_ARITY 4

static void sift_up(tt_loop *loop, size_t i)
{
    heap_slot v = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / HEAP_ARITY;
        if (!before(&v, &loop->heap[parent]))
            break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, v);
}

static void sift_down(tt_loop *loop, size_t i)
{
    heap_slot v = loop->heap[i];
    size_t n = loop->heap_len;
    for (;;) {
        size_t first = HEAP_ARITY * i + 1;
        if (first >= n)
            break;
        size_t end = first + HEAP_ARITY < n ? first + HEAP_ARITY : n;
        size_t c = first;
        for (size_t k = first + 1; k < end; k++)
            if (before(&loop->heap[k], &loop->heap[c]))
                c = k;
        if (!before(&loop->heap[c], &v))
            break;
        heap_set(loop, i, loop->heap[c]);
        i = c;
    }
    heap_set(loop, i, v);
}

/* Most timers are armed in deadline order: a server's requests share one timeout, a batch of
 * sleepers one duration. Those join the run queue, where arming, disarming and firing are O(1)
 * and touch no other timer (a heap pop moves log4(n) slots and writes each moved timer's index,
 * a cache miss in another task's stack per level). A timer that would break the order goes to
 * the heap; the earlier of the two heads fires first. A disarmed queue slot is emptied in place
 * and dropped when it reaches either end; when empty slots outnumber live ones the queue is
 * compacted, so a long-lived timer at the head cannot make it grow without bound. */

static inline runq_slot *runq_at(tt_loop *loop, uint32_t pos)
{
    return &loop->runq[pos & (loop->runq_cap - 1)];
}

/* Doubles the queue. Positions are absolute (mod 2^32), so no timer's qpos changes. */
static int runq_grow(tt_loop *loop)
{
    uint32_t cap = loop->runq_cap ? loop->runq_cap * 2 : 64;
    if (cap == 0 || cap > (1u << 31))
        return -ENOMEM;
    runq_slot *q = malloc((size_t)cap * sizeof *q);
    if (!q)
        return -ENOMEM;
    for (uint32_t p = loop->runq_head; p != loop->runq_tail; p++)
        q[p & (cap - 1)] = *runq_at(loop, p);
    free(loop->runq);
    loop->runq = q;
    loop->runq_cap = cap;
    return 0;
}

/* Drops empty slots at both ends: the head slot is live whenever the queue is not empty. */
static void runq_trim(tt_loop *loop)
{
    while (loop->runq_head != loop->runq_tail && !runq_at(loop, loop->runq_head)->timer) {
        loop->runq_head++;
        loop->runq_dead--;
    }
    while (loop->runq_head != loop->runq_tail && !runq_at(loop, loop->runq_tail - 1)->timer) {
        loop->runq_tail--;
        loop->runq_dead--;
    }
}

static void runq_compact(tt_loop *loop)
{
    uint32_t w = loop->runq_head;
    for (uint32_t r = loop->runq_head; r != loop->runq_tail; r++) {
        runq_slot v = *runq_at(loop, r);
        if (!v.timer)
            continue;
        v.timer->qpos = w;
        *runq_at(loop, w++) = v;
    }
    loop->runq_tail = w;
    loop->runq_dead = 0;
}

/* Queues t if its deadline keeps the queue in order; false if it must go to the heap. */
static bool runq_push(tt_loop *loop, tt_timer *t)
{
    uint32_t n = loop->runq_tail - loop->runq_head;
    if (n && runq_at(loop, loop->runq_tail - 1)->deadline > t->deadline)
        return false;
    if (n == loop->runq_cap && runq_grow(loop) < 0)
        return false;
    t->index = TIMER_IN_RUNQ;
    t->qpos = loop->runq_tail++;
    *runq_at(loop, t->qpos) = (runq_slot){t->deadline, t};
    return true;
}

static void runq_remove(tt_loop *loop, tt_timer *t)
{
    runq_at(loop, t->qpos)->timer = NULL;
    loop->runq_dead++;
    runq_trim(loop);
    uint32_t n = loop->runq_tail - loop->runq_head;
    if (loop->runq_dead > 64 && loop->runq_dead > n / 2)
        runq_compact(loop);
}

int timer_arm(tt_loop *loop, tt_timer *t, int64_t deadline)
{
    if (t->index)
        timer_disarm(loop, t);
    t->deadline = deadline;
    t->seq = ++loop->timer_seq;
    if (runq_push(loop, t)) {
        loop->timers++;
        return 0;
    }
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        heap_slot *h = realloc(loop->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        loop->heap = h;
        loop->heap_cap = cap;
    }
    loop->heap[loop->heap_len] = (heap_slot){deadline, t->seq, t};
    sift_up(loop, loop->heap_len++);
    loop->timers++;
    return 0;
}

void timer_disarm(tt_loop *loop, tt_timer *t)
{
    if (!t->index)
        return;
    loop->timers--;
    if (t->index == TIMER_IN_RUNQ) {
        t->index = 0;
        runq_remove(loop, t);
        return;
    }
    size_t i = t->index - 1;
    t->index = 0;
    heap_slot last = loop->heap[--loop->heap_len];
    if (i == loop->heap_len)
        return;
    loop->heap[i] = last;
    if (i > 0 && before(&last, &loop->heap[(i - 1) / HEAP_ARITY]))
        sift_up(loop, i);
    else
        sift_down(loop, i);
}

/* The earliest armed timer (NULL if none) and its deadline. */
static tt_timer *earliest(tt_loop *loop, int64_t *deadline)
{
    const runq_slot *q = loop->runq_head != loop->runq_tail ? runq_at(loop, loop->runq_head) : NULL;
    const heap_slot *h = loop->heap_len ? &loop->heap[0] : NULL;
    bool heap_first = h && (!q || h->deadline < q->deadline ||
                            (h->deadline == q->deadline && h->seq < q->timer->seq));
    if (heap_first) {
        *deadline = h->deadline;
        return h->timer;
    }
    if (q)
        *deadline = q->deadline;
    return q ? q->timer : NULL;
}

int64_t timer_next_deadline(tt_loop *loop)
{
    int64_t d;
    return earliest(loop, &d) ? d : TT_FOREVER;
}

int timer_fire_expired(tt_loop *loop, int64_t now)
{
    int fired = 0;
    int64_t d;
    tt_timer *t;
    while ((t = earliest(loop, &d)) && d <= now) {
        timer_disarm(loop, t);
        t->fire(t);
        fired++;
    }
    return fired;
}

void timer_heap_free(tt_loop *loop)
{
    free(loop->heap);
    loop->heap = NULL;
    loop->heap_len = loop->heap_cap = 0;
    free(loop->runq);
    loop->runq = NULL;
    loop->runq_head = loop->runq_tail = loop->runq_cap = loop->runq_dead = 0;
    loop->timers = 0;
    for (size_t i = 0; i < loop->later_cap; i++)
        for (struct later_timer *lt = loop->later[i], *next; lt; lt = next) {
            next = *(struct later_timer **)lt;
            free(lt);
        }
    free(loop->later);
    loop->later = NULL;
    loop->later_cap = loop->later_len = 0;
}

/* ------------------------------------------------------------------- call_later */

enum { LT_ARMED, LT_QUEUED, LT_CANCELLED };

struct later_timer {
    struct later_timer *next; /* hash chain; first so timer_heap_free can walk it */
    tt_timer timer;
    cb_node node; /* pushed to the ready queue when due: firing allocates nothing */
    uint64_t id;
    void (*cb)(void *);
    void *arg;
    tt_loop *loop;
    int state;
};

static size_t later_slot(tt_loop *loop, uint64_t id)
{
    return (size_t)(id * 0x9E3779B97F4A7C15ull >> 20) & (loop->later_cap - 1);
}

static int later_insert(tt_loop *loop, struct later_timer *lt)
{
    if (loop->later_len + 1 > loop->later_cap / 2) {
        size_t cap = loop->later_cap ? loop->later_cap * 2 : 64;
        struct later_timer **b = calloc(cap, sizeof *b);
        if (!b)
            return -ENOMEM;
        struct later_timer **old = loop->later;
        size_t oldcap = loop->later_cap;
        loop->later = b;
        loop->later_cap = cap;
        for (size_t i = 0; i < oldcap; i++)
            for (struct later_timer *x = old[i], *next; x; x = next) {
                next = x->next;
                size_t s = later_slot(loop, x->id);
                x->next = b[s];
                b[s] = x;
            }
        free(old);
    }
    size_t s = later_slot(loop, lt->id);
    lt->next = loop->later[s];
    loop->later[s] = lt;
    loop->later_len++;
    return 0;
}

static struct later_timer *later_take(tt_loop *loop, uint64_t id)
{
    if (!loop->later_cap)
        return NULL;
    for (struct later_timer **pp = &loop->later[later_slot(loop, id)]; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            struct later_timer *lt = *pp;
            *pp = lt->next;
            loop->later_len--;
            return lt;
        }
    return NULL;
}

static void later_run(void *arg)
{
    struct later_timer *lt = arg;
    if (lt->state != LT_CANCELLED) {
        later_take(lt->loop, lt->id);
        lt->cb(lt->arg);
    }
    free(lt);
}

static void later_discard(cb_node *n)
{
    struct later_timer *lt = n->arg;
    if (lt->state != LT_CANCELLED)
        later_take(lt->loop, lt->id);
    free(lt);
}

static void later_fire(tt_timer *t)
{
    struct later_timer *lt = TT_CONTAINER_OF(t, struct later_timer, timer);
    lt->state = LT_QUEUED;
    loop_push_ready(lt->loop, &lt->node.ri);
}

uint64_t tt_call_later(tt_loop *loop, int64_t delay, void (*cb)(void *), void *arg)
{
    if (!loop || !cb) {
        errno = EINVAL;
        return 0;
    }
    if (!loop_on_thread(loop)) {
        errno = EPERM;
        return 0;
    }
    struct later_timer *lt = calloc(1, sizeof *lt);
    if (!lt) {
        errno = ENOMEM;
        return 0;
    }
    lt->id = ++loop->later_next_id;
    lt->cb = cb;
    lt->arg = arg;
    lt->loop = loop;
    lt->timer.fire = later_fire;
    lt->node.ri.kind = RK_CALLBACK;
    lt->node.ri.type = CB_CALL | CB_EMBEDDED;
    lt->node.fn.call = later_run;
    lt->node.arg = lt;
    lt->node.aux = (uintptr_t)later_discard;
    if (later_insert(loop, lt) < 0) {
        free(lt);
        errno = ENOMEM;
        return 0;
    }
    if (timer_arm(loop, &lt->timer, deadline_after(delay > 0 ? delay : 0)) < 0) {
        later_take(loop, lt->id);
        free(lt);
        errno = ENOMEM;
        return 0;
    }
    return lt->id;
}

int tt_call_cancel(tt_loop *loop, uint64_t timer_id)
{
    if (!loop)
        return -EINVAL;
    if (!loop_on_thread(loop))
        return -EPERM;
    struct later_timer *lt = later_take(loop, timer_id);
    if (!lt)
        return 0;
    if (lt->state == LT_ARMED) {
        timer_disarm(loop, &lt->timer);
        free(lt);
    } else {
        lt->state = LT_CANCELLED; /* already on the ready queue: later_run frees it */
    }
    return 1;
}
