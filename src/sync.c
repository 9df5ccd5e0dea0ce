/* Event, Lock, Semaphore and Queue between the tasks of one loop, as asyncio 3.11 builds them:
 * a FIFO list of waiters, each handed over, cancelled or told the object is gone exactly once,
 * so cancellation needs no special path: a cancelled waiter simply gives back what it was
 * handed. A waiter is its task's own entry (no future to allocate): handing over queues the
 * task, as completing an awaited future would. */
#include "internal.h"

#include <limits.h>
#include <stdio.h>

/* A waiting task's entry, on its own stack for as long as it waits. Whoever ends the wait
 * leaves the entry where it is (Event, Lock, Semaphore) or unlinks it (Queue), and the task
 * unlinks it itself if still linked. */
typedef struct waiter {
    struct waiter *prev, *next;
    tt_task *task;
    task_waiter hook;  /* the task's cancellation ends the wait (task.c) */
    const char *what;  /* for tt_loop_dump */
    intptr_t result;   /* once done: 0 (handed over), -ECANCELED or -EIDRM */
    bool done;         /* ended: the task is queued to resume */
    bool linked;
    bool gone; /* the object was freed while we waited: touch nothing of it */
} waiter;

/* Ends w's wait with result and queues its task, unless it has ended already. */
static void waiter_end(waiter *w, intptr_t result)
{
    if (w->done)
        return;
    w->done = true;
    w->result = result;
    task_wake(w->task);
}

static bool waiter_cancelled(const waiter *w) { return w->done && w->result == -ECANCELED; }

static void waiter_cancel(tt_loop *loop, task_waiter *tw)
{
    (void)loop;
    waiter_end(TT_CONTAINER_OF(tw, waiter, hook), -ECANCELED);
}

static void waiter_describe(const task_waiter *tw, char *buf, size_t n)
{
    const waiter *w = TT_CONTAINER_OF(tw, waiter, hook);
    snprintf(buf, n, "waiting on %s%s", w->what, w->done ? " (woken)" : "");
}

/* A FIFO of waiters; nwait counts them so loop checks stay O(1). */
typedef struct wlist {
    waiter *head, *tail;
} wlist;

typedef struct sync_base {
    tt_loop *loop; /* the loop of the waiters, meaningful only while nwait > 0 */
    size_t nwait;
} sync_base;

static void wl_push(sync_base *b, wlist *l, waiter *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    w->linked = true;
    if (b->nwait++ == 0)
        b->loop = w->task->fut.loop;
}

static void wl_unlink(sync_base *b, wlist *l, waiter *w)
{
    if (!w->linked)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->prev = w->next = NULL;
    w->linked = false;
    b->nwait--;
}

/* Non-waiting calls may come from a callback on the loop thread; with waiters present they
 * must come from the waiters' loop. */
static int check_thread(const sync_base *b)
{
    return b->nwait && tls_loop != b->loop ? -EPERM : 0;
}

/* Waiting calls: from a task, of the same loop as the waiters already present. */
static int check_task(const sync_base *b, tt_task **me)
{
    *me = task_current();
    if (!*me)
        return -EPERM;
    return b->nwait && b->loop != (*me)->fut.loop ? -EPERM : 0;
}

/* Parks the current task in l until its wait ends. Returns 0 (handed over), -ECANCELED (the
 * task was cancelled, even after a hand-over: w tells which) or -EIDRM (the object was freed
 * under it). A cancel requested while the task ran is delivered here, one turn later. The
 * caller unlinks. */
static intptr_t park(sync_base *b, wlist *l, waiter *w, tt_task *me, const char *what)
{
    w->task = me;
    w->hook = (task_waiter){waiter_cancel, waiter_describe};
    w->what = what;
    w->result = 0;
    w->done = w->gone = false;
    wl_push(b, l, w);
    task_wait_other(me, &w->hook, true);
    /* Every request that was not held back by a shield set must_cancel (task.c). */
    if (me->must_cancel) {
        task_withdraw_cancel(me);
        return -ECANCELED;
    }
    return w->result;
}

/* After park: if the object was freed meanwhile (even after handing us the lock, a unit or
 * room), the waiter leaves without touching it. */
static bool left_gone(waiter *w, intptr_t *r)
{
    if (!w->gone)
        return false;
    if (*r != -ECANCELED)
        *r = -EIDRM;
    return true;
}

/* Completes every waiter of l with -EIDRM (as System V semaphores report a removed set), so
 * tasks still parked on a freed object wake up without touching it again. */
static void detach_all(sync_base *b, wlist *l)
{
    while (l->head) {
        waiter *w = l->head;
        wl_unlink(b, l, w);
        w->gone = true; /* also for a waiter already handed the object but not yet resumed */
        waiter_end(w, -EIDRM);
    }
}

/* ---------------------------------------------------------------------------- Event */

struct tt_event {
    sync_base b;
    wlist waiters;
    bool value;
};

tt_event *tt_event_new(void)
{
    tt_event *e = calloc(1, sizeof *e);
    if (!e)
        errno = ENOMEM;
    return e;
}

int tt_event_set(tt_event *e)
{
    if (!e)
        return -EINVAL;
    int rc = check_thread(&e->b);
    if (rc < 0)
        return rc;
    if (!e->value) {
        e->value = true;
        for (waiter *w = e->waiters.head; w; w = w->next)
            waiter_end(w, 0);
    }
    return 0;
}

int tt_event_clear(tt_event *e)
{
    if (!e)
        return -EINVAL;
    int rc = check_thread(&e->b);
    if (rc < 0)
        return rc;
    e->value = false;
    return 0;
}

int tt_event_is_set(const tt_event *e)
{
    return e ? e->value : -EINVAL;
}

int tt_event_wait(tt_event *e)
{
    if (!e)
        return -EINVAL;
    tt_task *me;
    int rc = check_task(&e->b, &me);
    if (rc < 0)
        return rc;
    if (e->value)
        return 0;
    waiter w;
    intptr_t r = park(&e->b, &e->waiters, &w, me, "an event");
    if (left_gone(&w, &r))
        return (int)r;
    wl_unlink(&e->b, &e->waiters, &w);
    return r < 0 ? (int)r : 0;
}

void tt_event_free(tt_event *e)
{
    if (!e)
        return;
    detach_all(&e->b, &e->waiters);
    free(e);
}

/* ----------------------------------------------------------------------------- Lock */

struct tt_lock {
    sync_base b;
    wlist waiters;
    bool locked;
};

tt_lock *tt_lock_new(void)
{
    tt_lock *l = calloc(1, sizeof *l);
    if (!l)
        errno = ENOMEM;
    return l;
}

static void lock_wake_first(tt_lock *l)
{
    /* asyncio wakes only the first: if it was cancelled, its task passes the turn on. */
    waiter *w = l->waiters.head;
    if (w)
        waiter_end(w, 0);
}

int tt_lock_acquire(tt_lock *l)
{
    if (!l)
        return -EINVAL;
    tt_task *me;
    int rc = check_task(&l->b, &me);
    if (rc < 0)
        return rc;
    if (!l->locked) {
        /* No barging past a waiter that was handed the lock but has not run yet. */
        bool all_cancelled = true;
        for (waiter *w = l->waiters.head; w && all_cancelled; w = w->next)
            all_cancelled = waiter_cancelled(w);
        if (all_cancelled) {
            l->locked = true;
            return 0;
        }
    }
    waiter w;
    intptr_t r = park(&l->b, &l->waiters, &w, me, "a lock");
    if (left_gone(&w, &r))
        return (int)r;
    wl_unlink(&l->b, &l->waiters, &w);
    if (r < 0) {
        if (!l->locked)
            lock_wake_first(l); /* the lock may have been handed to us: pass it on */
        return (int)r;
    }
    l->locked = true;
    return 0;
}

int tt_lock_release(tt_lock *l)
{
    if (!l)
        return -EINVAL;
    int rc = check_thread(&l->b);
    if (rc < 0)
        return rc;
    if (!l->locked)
        return -EPERM;
    l->locked = false;
    lock_wake_first(l);
    return 0;
}

int tt_lock_locked(const tt_lock *l)
{
    return l ? l->locked : -EINVAL;
}

void tt_lock_free(tt_lock *l)
{
    if (!l)
        return;
    detach_all(&l->b, &l->waiters);
    free(l);
}

/* ------------------------------------------------------------------------ Semaphore */

struct tt_semaphore {
    sync_base b;
    wlist waiters;
    int value;
};

tt_semaphore *tt_semaphore_new(unsigned value)
{
    if (value > INT_MAX) {
        errno = EINVAL;
        return NULL;
    }
    tt_semaphore *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->value = (int)value;
    return s;
}

/* asyncio 3.11.x: locked while the count is 0 or anyone not cancelled is queued. */
static bool sem_locked(const tt_semaphore *s)
{
    if (s->value == 0)
        return true;
    for (waiter *w = s->waiters.head; w; w = w->next)
        if (!waiter_cancelled(w))
            return true;
    return false;
}

/* Hands one unit to the first waiter still pending; the count drops at hand-over, so a
 * newcomer cannot take it first. */
static void sem_wake_next(tt_semaphore *s)
{
    for (waiter *w = s->waiters.head; w; w = w->next) {
        if (!w->done) {
            s->value--;
            waiter_end(w, 0);
            return;
        }
    }
}

int tt_semaphore_acquire(tt_semaphore *s)
{
    if (!s)
        return -EINVAL;
    tt_task *me;
    int rc = check_task(&s->b, &me);
    if (rc < 0)
        return rc;
    if (!sem_locked(s)) {
        s->value--;
        return 0;
    }
    waiter w;
    intptr_t r = park(&s->b, &s->waiters, &w, me, "a semaphore");
    if (left_gone(&w, &r))
        return (int)r;
    wl_unlink(&s->b, &s->waiters, &w);
    bool handed = w.done && w.result == 0;
    if (r < 0) {
        if (handed) {
            /* Handed a unit at the moment we were cancelled: give it to the next. */
            s->value++;
            sem_wake_next(s);
        }
        return (int)r;
    }
    if (s->value > 0)
        sem_wake_next(s);
    return 0;
}

int tt_semaphore_release(tt_semaphore *s)
{
    if (!s)
        return -EINVAL;
    int rc = check_thread(&s->b);
    if (rc < 0)
        return rc;
    if (s->value == INT_MAX)
        return -EOVERFLOW;
    s->value++;
    sem_wake_next(s);
    return 0;
}

int tt_semaphore_value(const tt_semaphore *s)
{
    return s ? s->value : -EINVAL;
}

void tt_semaphore_free(tt_semaphore *s)
{
    if (!s)
        return;
    detach_all(&s->b, &s->waiters);
    free(s);
}

/* ---------------------------------------------------------------------------- Queue */

struct tt_queue {
    sync_base b;
    wlist getters, putters;
    size_t maxsize;          /* 0: unbounded */
    void **ring;
    size_t cap, head, count; /* cap is a power of two */
};

tt_queue *tt_queue_new(size_t maxsize)
{
    tt_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->maxsize = maxsize;
    return q;
}

static bool q_full(const tt_queue *q)
{
    return q->maxsize && q->count >= q->maxsize;
}

static int q_grow(tt_queue *q)
{
    size_t cap = q->cap ? 2 * q->cap : 16;
    if (cap < q->cap || cap > SIZE_MAX / sizeof(void *))
        return -ENOMEM;
    void **r = malloc(cap * sizeof *r);
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        r[i] = q->ring[(q->head + i) & (q->cap - 1)];
    free(q->ring);
    q->ring = r;
    q->cap = cap;
    q->head = 0;
    return 0;
}

/* Wakes the first waiter of l that is still pending, taking it off the list (asyncio's
 * _wakeup_next: cancelled entries met on the way are dropped too). */
/* Wakes the first waiter not already woken. Woken waiters stay linked until they run, so that
 * freeing the queue meanwhile can still tell them it is gone. */
static void q_wake_next(tt_queue *q, wlist *l)
{
    (void)q;
    for (waiter *w = l->head; w; w = w->next)
        if (!w->done) {
            waiter_end(w, 0);
            return;
        }
}

static int q_put_now(tt_queue *q, void *item)
{
    if (q_full(q))
        return -EAGAIN;
    if (q->count == q->cap) {
        int rc = q_grow(q);
        if (rc < 0)
            return rc;
    }
    q->ring[(q->head + q->count) & (q->cap - 1)] = item;
    q->count++;
    q_wake_next(q, &q->getters);
    return 0;
}

static int q_get_now(tt_queue *q, void **item)
{
    if (q->count == 0)
        return -EAGAIN;
    *item = q->ring[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    q_wake_next(q, &q->putters);
    return 0;
}

int tt_queue_try_put(tt_queue *q, void *item)
{
    if (!q)
        return -EINVAL;
    int rc = check_thread(&q->b);
    return rc < 0 ? rc : q_put_now(q, item);
}

int tt_queue_try_get(tt_queue *q, void **item)
{
    if (!q || !item)
        return -EINVAL;
    int rc = check_thread(&q->b);
    return rc < 0 ? rc : q_get_now(q, item);
}

int tt_queue_put(tt_queue *q, void *item)
{
    if (!q)
        return -EINVAL;
    tt_task *me;
    int rc = check_task(&q->b, &me);
    if (rc < 0)
        return rc;
    while (q_full(q)) {
        waiter w;
        intptr_t r = park(&q->b, &q->putters, &w, me, "a queue (put)");
        if (left_gone(&w, &r))
            return (int)r;
        wl_unlink(&q->b, &q->putters, &w);
        bool cancelled = waiter_cancelled(&w);
        if (r < 0) {
            /* Woken for room we will not use: the next putter may. */
            if (!q_full(q) && !cancelled)
                q_wake_next(q, &q->putters);
            return (int)r;
        }
    }
    return q_put_now(q, item);
}

int tt_queue_get(tt_queue *q, void **item)
{
    if (!q || !item)
        return -EINVAL;
    tt_task *me;
    int rc = check_task(&q->b, &me);
    if (rc < 0)
        return rc;
    while (q->count == 0) {
        waiter w;
        intptr_t r = park(&q->b, &q->getters, &w, me, "a queue (get)");
        if (left_gone(&w, &r))
            return (int)r;
        wl_unlink(&q->b, &q->getters, &w);
        bool cancelled = waiter_cancelled(&w);
        if (r < 0) {
            /* Woken for an item we will not take: the next getter may. */
            if (q->count > 0 && !cancelled)
                q_wake_next(q, &q->getters);
            return (int)r;
        }
    }
    return q_get_now(q, item);
}

size_t tt_queue_size(const tt_queue *q)
{
    return q ? q->count : 0;
}

void tt_queue_free(tt_queue *q)
{
    if (!q)
        return;
    detach_all(&q->b, &q->getters);
    detach_all(&q->b, &q->putters);
    free(q->ring);
    free(q);
}
