/* Timers: a binary min-heap in user space ordered by (deadline, arming order), and call_later
 * handles found by id. The ring only ever waits for the nearest deadline. */
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

static void sift_up(tt_loop *loop, size_t i)
{
    heap_slot v = loop->timers.heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
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
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&loop->timers.heap[c + 1], &loop->timers.heap[c]))
            c++;
        if (!before(&loop->timers.heap[c], &v))
            break;
        heap_set(loop, i, loop->timers.heap[c]);
        i = c;
    }
    heap_set(loop, i, v);
}

int timer_arm(tt_loop *loop, tt_timer *t, int64_t deadline)
{
    if (t->index)
        timer_disarm(loop, t);
    if (loop->timers.len == loop->timers.cap) {
        size_t cap = loop->timers.cap ? loop->timers.cap * 2 : 64;
        heap_slot *h = realloc(loop->timers.heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        loop->timers.heap = h;
        loop->timers.cap = cap;
    }
    t->deadline = deadline;
    t->seq = ++loop->timers.seq;
    loop->timers.heap[loop->timers.len] = (heap_slot){deadline, t->seq, t};
    sift_up(loop, loop->timers.len++);
    return 0;
}

void timer_disarm(tt_loop *loop, tt_timer *t)
{
    if (!t->index)
        return;
    size_t i = t->index - 1;
    t->index = 0;
    heap_slot last = loop->timers.heap[--loop->timers.len];
    if (i == loop->timers.len)
        return;
    loop->timers.heap[i] = last;
    if (i > 0 && before(&last, &loop->timers.heap[(i - 1) / 2]))
        sift_up(loop, i);
    else
        sift_down(loop, i);
}

int64_t timer_next_deadline(tt_loop *loop)
{
    return loop->timers.len ? loop->timers.heap[0].deadline : TT_FOREVER;
}

int timer_fire_expired(tt_loop *loop, int64_t now)
{
    int fired = 0;
    while (loop->timers.len && loop->timers.heap[0].deadline <= now) {
        tt_timer *t = loop->timers.heap[0].timer;
        hist_record(&loop->lag.timers, now - loop->timers.heap[0].deadline); /* its lag */
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
    if (!loop && !(loop = tls_loop))
        return -EPERM;
    if (!loop_on_thread(loop))
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
    if (timer_arm(loop, &lt->timer, deadline_after(delay > 0 ? delay : 0)) < 0) {
        later_take(loop, lt->id);
        free(lt);
        return -ENOMEM;
    }
    return (int64_t)lt->id;
}

int tt_call_cancel(tt_loop *loop, int64_t timer_id)
{
    if (!loop && !(loop = tls_loop))
        return -EPERM;
    if (!loop_on_thread(loop))
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
