/* Timers: FIFO run queues for timers armed in deadline order (one per delay) and a 4-ary
 * min-heap for the rest, all ordered by (deadline, arming order), and call_later handles found
 * by id. The ring only ever waits for the nearest deadline. */
#include "internal.h"

#include <time.h>

int64_t clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return timespec_ns(&ts);
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
    loop->timers.heap[i] = v;
    v.timer->index = (uint32_t)i + 1;
}

/* Four children per node: half the levels of a binary heap, and a node's children share one or
 * two cache lines, so popping the earliest of a million timers misses cache half as often. */
#define HEAP_ARITY 4

static void sift_up(tt_loop *loop, size_t i)
{
    heap_slot v = loop->timers.heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / HEAP_ARITY;
        if (!before(&v, &loop->timers.heap[parent]))
            break;
        heap_set(loop, i, loop->timers.heap[parent]);
        i = parent;
    }
    heap_set(loop, i, v);
}

static void sift_down(tt_loop *loop, size_t i)
{
    heap_slot v = loop->timers.heap[i];
    size_t n = loop->timers.len;
    for (;;) {
        size_t first = HEAP_ARITY * i + 1;
        if (first >= n)
            break;
        size_t end = first + HEAP_ARITY < n ? first + HEAP_ARITY : n;
        size_t c = first;
        for (size_t k = first + 1; k < end; k++)
            if (before(&loop->timers.heap[k], &loop->timers.heap[c]))
                c = k;
        if (!before(&loop->timers.heap[c], &v))
            break;
        heap_set(loop, i, loop->timers.heap[c]);
        i = c;
    }
    heap_set(loop, i, v);
}

/* Most timers are armed in deadline order per delay: a server's requests share one timeout, a
 * batch of sleepers one duration, and timers of one delay armed one after the other expire one
 * after the other. Each delay (in whole ms, mod TIMER_RUNQS) has a FIFO run queue, where
 * arming, disarming and firing are O(1) and touch no other timer; a heap pop moves log4(n)
 * slots and writes each moved timer's index, a cache miss in another task's stack per level.
 * A timer that would break its queue's order goes to the 4-ary heap; the earliest head of the
 * queues and the heap fires first. A disarmed queue slot is emptied in place and dropped when
 * it reaches either end; when empty slots outnumber live ones the queue is compacted, so a
 * long-lived timer at the head cannot make it grow without bound. */

struct runq {
    runq_slot *slot;
    uint32_t head, tail, cap, dead; /* positions are absolute (mod 2^32); cap a power of 2 */
};

/* The queues, and a small binary heap of the busy ones ordered by their heads, so finding the
 * earliest head costs a look at the top, not a scan. Each heap entry carries a copy of its
 * queue's head slot: sifting compares keys side by side in one array instead of following
 * each queue to its slots (two dependent loads per side), and reads a timer only to break a
 * tie of deadlines. */
struct runqs {
    struct runq q[TIMER_RUNQS];
    runq_slot key[TIMER_RUNQS]; /* by heap position: the head slot of queue heap[i] */
    uint8_t heap[TIMER_RUNQS];  /* busy queues' indices */
    uint8_t at[TIMER_RUNQS];    /* a busy queue's slot in heap */
    uint32_t n;                 /* busy queues */
};

static inline bool key_before(const runq_slot *x, const runq_slot *y)
{
    return x->deadline < y->deadline ||
           (x->deadline == y->deadline && x->timer->seq < y->timer->seq);
}

static inline void qh_set(struct runqs *r, unsigned i, unsigned qi, runq_slot key)
{
    r->heap[i] = (uint8_t)qi;
    r->key[i] = key;
    r->at[qi] = (uint8_t)i;
}

static void qh_up(struct runqs *r, unsigned i)
{
    unsigned qi = r->heap[i];
    runq_slot k = r->key[i];
    while (i > 0 && key_before(&k, &r->key[(i - 1) / 2])) {
        unsigned p = (i - 1) / 2;
        qh_set(r, i, r->heap[p], r->key[p]);
        i = p;
    }
    qh_set(r, i, qi, k);
}

static void qh_down(struct runqs *r, unsigned i)
{
    unsigned qi = r->heap[i];
    runq_slot k = r->key[i];
    for (;;) {
        unsigned c = 2 * i + 1;
        if (c >= r->n)
            break;
        if (c + 1 < r->n && key_before(&r->key[c + 1], &r->key[c]))
            c++;
        if (!key_before(&r->key[c], &k))
            break;
        qh_set(r, i, r->heap[c], r->key[c]);
        i = c;
    }
    qh_set(r, i, qi, k);
}

static void qh_remove(struct runqs *r, unsigned qi)
{
    unsigned i = r->at[qi];
    unsigned last = r->heap[--r->n];
    if (i == r->n)
        return;
    qh_set(r, i, last, r->key[r->n]);
    qh_up(r, i);
    qh_down(r, r->at[last]);
}

static inline runq_slot *runq_at(struct runq *q, uint32_t pos)
{
    return &q->slot[pos & (q->cap - 1)];
}

/* Doubles the queue. Positions are absolute, so no timer's qpos changes; realloc keeps the
 * pages already touched (a large block grows in place), and only the slots whose position
 * now maps to the new half move. */
static int runq_grow(struct runq *q)
{
    uint32_t old = q->cap, cap = old ? old * 2 : 64;
    if (cap == 0 || cap > (1u << 31))
        return -ENOMEM;
    runq_slot *s = realloc(q->slot, (size_t)cap * sizeof *s);
    if (!s)
        return -ENOMEM;
    for (uint32_t p = q->head; p != q->tail; p++)
        if (p & old)
            s[p & (cap - 1)] = s[p & (old - 1)];
    q->slot = s;
    q->cap = cap;
    return 0;
}

/* Drops empty slots at both ends: the head slot is live whenever the queue is not empty. */
static void runq_trim(struct runqs *r, unsigned qi)
{
    struct runq *q = &r->q[qi];
    uint32_t head = q->head;
    while (q->head != q->tail && !runq_at(q, q->head)->timer) {
        q->head++;
        q->dead--;
    }
    while (q->head != q->tail && !runq_at(q, q->tail - 1)->timer) {
        q->tail--;
        q->dead--;
    }
    if (q->head == q->tail) {
        qh_remove(r, qi);
    } else if (q->head != head) { /* a later head */
        r->key[r->at[qi]] = *runq_at(q, q->head);
        if (r->n > 1) /* one busy queue (a server's one timeout): nothing to sift */
            qh_down(r, r->at[qi]);
    }
}

static void runq_compact(struct runq *q)
{
    uint32_t w = q->head;
    for (uint32_t r = q->head; r != q->tail; r++) {
        runq_slot v = *runq_at(q, r);
        if (!v.timer)
            continue;
        v.timer->qpos = w;
        *runq_at(q, w++) = v;
    }
    q->tail = w;
    q->dead = 0;
}

/* Queues t in run queue qi if its deadline keeps that queue in order; false if it must go to
 * the heap. */
static bool runq_push(tt_loop *loop, uint32_t qi, tt_timer *t)
{
    if (!loop->timers.runqs && !(loop->timers.runqs = calloc(1, sizeof *loop->timers.runqs)))
        return false;
    struct runqs *r = loop->timers.runqs;
    struct runq *q = &r->q[qi];
    uint32_t n = q->tail - q->head;
    if (n && runq_at(q, q->tail - 1)->deadline > t->deadline)
        return false;
    if (n == q->cap && runq_grow(q) < 0)
        return false;
    t->index = TIMER_IN_RUNQ - qi;
    t->qpos = q->tail++;
    *runq_at(q, t->qpos) = (runq_slot){t->deadline, t};
    if (n == 0) {
        qh_set(r, r->n, qi, *runq_at(q, t->qpos));
        qh_up(r, r->n++);
    }
    return true;
}

static void runq_remove(tt_loop *loop, uint32_t qi, tt_timer *t)
{
    struct runqs *r = loop->timers.runqs;
    struct runq *q = &r->q[qi];
    runq_at(q, t->qpos)->timer = NULL;
    q->dead++;
    runq_trim(r, qi);
    /* Firing walks each queue in order, and each timer lives in a different task's stack: the
     * one two places behind the new head is fetched while the others fire. */
    if (q->tail - q->head > 2) {
        tt_timer *ahead = runq_at(q, q->head + 2)->timer;
        if (ahead)
            __builtin_prefetch(ahead, 1);
    }
    uint32_t n = q->tail - q->head;
    if (q->dead > 64 && q->dead > n / 2)
        runq_compact(q);
}

static int heap_push(tt_loop *loop, tt_timer *t)
{
    if (loop->timers.len == loop->timers.cap) {
        size_t cap = loop->timers.cap ? loop->timers.cap * 2 : 64;
        heap_slot *h = realloc(loop->timers.heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        loop->timers.heap = h;
        loop->timers.cap = cap;
    }
    loop->timers.heap[loop->timers.len] = (heap_slot){t->deadline, t->seq, t};
    sift_up(loop, loop->timers.len++);
    return 0;
}

/* Arms t in run queue qi, or in the heap if that would break the queue's order. */
static int arm(tt_loop *loop, tt_timer *t, int64_t deadline, uint32_t qi)
{
    if (t->index)
        timer_disarm(loop, t);
    t->deadline = deadline;
    t->seq = ++loop->timers.seq;
    if (!runq_push(loop, qi, t)) {
        int rc = heap_push(loop, t);
        if (rc < 0)
            return rc;
    }
    loop->timers.armed++;
    return 0;
}

/* A timer armed for an absolute deadline shares queue 0: a deadline reused for a batch of
 * timers (a group's common deadline) arrives in order there too. */
int timer_arm(tt_loop *loop, tt_timer *t, int64_t deadline) { return arm(loop, t, deadline, 0); }

int timer_arm_in(tt_loop *loop, tt_timer *t, int64_t delay)
{
    return arm(loop, t, deadline_after(delay), (uint32_t)((uint64_t)delay / 1000000 % TIMER_RUNQS));
}

/* For memory that may be stale (a scope entered twice): whether the loop's heap slot or run-queue
 * slot that t names points back at t, i.e. t really is armed on this loop. */
bool timer_is_armed_on(const tt_loop *loop, const tt_timer *t)
{
    uint32_t i = t->index;
    if (i == 0)
        return false;
    if (i > TIMER_IN_RUNQ - TIMER_RUNQS) {
        const struct runqs *r = loop->timers.runqs;
        if (!r)
            return false;
        struct runq *q = (struct runq *)&r->q[TIMER_IN_RUNQ - i];
        return q->cap && t->qpos - q->head < q->tail - q->head && runq_at(q, t->qpos)->timer == t;
    }
    return i <= loop->timers.len && loop->timers.heap[i - 1].timer == t;
}

void timer_disarm(tt_loop *loop, tt_timer *t)
{
    if (!t->index)
        return;
    loop->timers.armed--;
    if (t->index > TIMER_IN_RUNQ - TIMER_RUNQS) {
        uint32_t qi = TIMER_IN_RUNQ - t->index;
        t->index = 0;
        runq_remove(loop, qi, t);
        return;
    }
    size_t i = t->index - 1;
    t->index = 0;
    heap_slot last = loop->timers.heap[--loop->timers.len];
    if (i == loop->timers.len)
        return;
    loop->timers.heap[i] = last;
    if (i > 0 && before(&last, &loop->timers.heap[(i - 1) / HEAP_ARITY]))
        sift_up(loop, i);
    else
        sift_down(loop, i);
}

/* The earliest armed timer (NULL if none) and its deadline: the heap's head or the earliest
 * run queue's head (ties by arming order). */
static tt_timer *earliest(tt_loop *loop, int64_t *deadline)
{
    struct runqs *r = loop->timers.runqs;
    const runq_slot *q = r && r->n ? &r->key[0] : NULL;
    const heap_slot *h = loop->timers.len ? &loop->timers.heap[0] : NULL;
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
        hist_record(&loop->lag.timers, now - d); /* its lag */
        timer_disarm(loop, t);
        t->fire(t);
        fired++;
    }
    return fired;
}

void timer_heap_free(tt_loop *loop)
{
    free(loop->timers.heap);
    loop->timers.heap = NULL;
    loop->timers.len = loop->timers.cap = 0;
    for (int i = 0; loop->timers.runqs && i < TIMER_RUNQS; i++)
        free(loop->timers.runqs->q[i].slot);
    free(loop->timers.runqs);
    loop->timers.runqs = NULL;
    loop->timers.armed = 0;
    for (size_t i = 0; i < loop->timers.later_cap; i++)
        for (struct later_timer *lt = loop->timers.later[i], *next; lt; lt = next) {
            next = *(struct later_timer **)lt;
            free(lt);
        }
    free(loop->timers.later);
    loop->timers.later = NULL;
    loop->timers.later_cap = loop->timers.later_len = 0;
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
    return (size_t)(id * 0x9E3779B97F4A7C15ull >> 20) & (loop->timers.later_cap - 1);
}

static int later_insert(tt_loop *loop, struct later_timer *lt)
{
    if (loop->timers.later_len + 1 > loop->timers.later_cap / 2) {
        size_t cap = loop->timers.later_cap ? loop->timers.later_cap * 2 : 64;
        struct later_timer **b = calloc(cap, sizeof *b);
        if (!b)
            return -ENOMEM;
        struct later_timer **old = loop->timers.later;
        size_t oldcap = loop->timers.later_cap;
        loop->timers.later = b;
        loop->timers.later_cap = cap;
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
    lt->next = loop->timers.later[s];
    loop->timers.later[s] = lt;
    loop->timers.later_len++;
    return 0;
}

static struct later_timer *later_take(tt_loop *loop, uint64_t id)
{
    if (!loop->timers.later_cap)
        return NULL;
    for (struct later_timer **pp = &loop->timers.later[later_slot(loop, id)]; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            struct later_timer *lt = *pp;
            *pp = lt->next;
            loop->timers.later_len--;
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

int64_t tt_call_later(tt_loop *loop, int64_t delay, void (*cb)(void *), void *arg)
{
    if (!cb)
        return -EINVAL;
    if (!(loop = loop_here(loop)))
        return -EPERM;
    struct later_timer *lt = calloc(1, sizeof *lt);
    if (!lt)
        return -ENOMEM;
    lt->id = ++loop->timers.later_next_id;
    lt->cb = cb;
    lt->arg = arg;
    lt->loop = loop;
    lt->timer.fire = later_fire;
    lt->node.ri.kind = RK_CALLBACK;
    lt->node.ri.type = CB_CALL | CB_EMBEDDED;
    lt->node.fn.call = later_run;
    lt->node.arg = lt;
    lt->node.release = later_discard;
    if (later_insert(loop, lt) < 0) {
        free(lt);
        return -ENOMEM;
    }
    if (timer_arm_in(loop, &lt->timer, delay > 0 ? delay : 0) < 0) {
        later_take(loop, lt->id);
        free(lt);
        return -ENOMEM;
    }
    return (int64_t)lt->id;
}

int tt_call_cancel(tt_loop *loop, int64_t timer_id)
{
    if (!(loop = loop_here(loop)))
        return -EPERM;
    if (timer_id <= 0)
        return 0; /* never an id (an error from tt_call_later, say) */
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
