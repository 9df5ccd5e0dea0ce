/* The waiting combinators: tt_wait, tt_as_completed_* and tt_shield, built the way asyncio 3.11
 * builds them — a waiter future released by done-callbacks or a timer — so wake-ups take the
 * same number of loop turns and cancellation reaches the same futures; and tt_wait_for, built as
 * 3.12 builds it: the task awaits the inner itself, under a timer. */
#include "internal.h"

/* ------------------------------------------------------------------ shared helpers */

/* The distinct futures of fs, in order of first appearance (asyncio works on set(fs)); with
 * idx, also where each first appears in fs. */
static int unique_futures(tt_future *const *fs, size_t n, tt_future ***out, size_t *nout,
                          size_t **idx)
{
    *out = NULL;
    *nout = 0;
    if (idx)
        *idx = NULL;
    if (n == 0)
        return 0;
    tt_future **u = malloc(n * sizeof *u);
    size_t *x = idx ? malloc(n * sizeof *x) : NULL;
    if (!u || (idx && !x)) {
        free(u);
        free(x);
        return -ENOMEM;
    }
    size_t k = 0;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < k && u[j] != fs[i])
                j++;
            if (j == k) {
                if (x)
                    x[k] = i;
                u[k++] = fs[i];
            }
        }
    } else {
        /* A small open-addressing set keeps big inputs linear. */
        size_t cap = 32;
        while (cap < 2 * n)
            cap <<= 1;
        tt_future **set = calloc(cap, sizeof *set);
        if (!set) {
            free(u);
            free(x);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            size_t h = ((uintptr_t)fs[i] >> 4) * 0x9e3779b97f4a7c15ull;
            for (h &= cap - 1; set[h] && set[h] != fs[i]; h = (h + 1) & (cap - 1))
                ;
            if (!set[h]) {
                set[h] = fs[i];
                if (x)
                    x[k] = i;
                u[k++] = fs[i];
            }
        }
        free(set);
    }
    *out = u;
    *nout = k;
    if (idx)
        *idx = x;
    return 0;
}

/* Every entry must be a live future of the caller's loop. */
static int check_inputs(tt_future *const *fs, size_t n, tt_loop *loop)
{
    if (n && !fs)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!fs[i] || fs[i]->loop != loop)
            return -EINVAL; /* the one rule for another loop's future, as tt_await */
    }
    return 0;
}

/* Reads the outcome of f (marking a failure retrieved) and drops the caller's reference. */
static intptr_t take_result(tt_future *f)
{
    intptr_t r = tt_result(f);
    tt_unref(f);
    return r;
}

/* ------------------------------------------------------------------------- tt_wait */

typedef struct wait_fut {
    tt_future fut;  /* what the waiting task awaits */
    tt_timer timer;
    size_t counter; /* distinct futures not yet seen complete */
    tt_when when;
} wait_fut;

static const future_ops wait_ops = {"wait", NULL, NULL};

static void wait_on_completion(tt_future *f, void *arg)
{
    wait_fut *w = arg;
    if (w->counter)
        w->counter--;
    bool release = w->counter == 0 || w->when == TT_FIRST_COMPLETED;
    if (!release && w->when == TT_FIRST_EXCEPTION && f->result < 0 && f->result != -ECANCELED) {
        f->retrieved = 1; /* asyncio reads f.exception() here */
        release = true;
    }
    if (release && w->fut.state == FS_PENDING) {
        if (timer_armed(&w->timer))
            timer_disarm(w->fut.loop, &w->timer);
        future_complete(&w->fut, 0);
    }
    tt_unref(&w->fut);
}

static void wait_timer_fired(tt_timer *t)
{
    wait_fut *w = TT_CONTAINER_OF(t, wait_fut, timer);
    if (w->fut.state == FS_PENDING)
        future_complete(&w->fut, 0);
}

ssize_t tt_wait(tt_future *const *fs, size_t n, tt_when when, int64_t timeout)
{
    if (!fs || n == 0)
        return -EINVAL;
    if (when != TT_ALL_COMPLETED && when != TT_FIRST_COMPLETED && when != TT_FIRST_EXCEPTION)
        return -EINVAL;
    tt_task *me = task_current();
    if (!me)
        return -EPERM;
    tt_loop *loop = me->fut.loop;
    int rc = check_inputs(fs, n, loop);
    if (rc < 0)
        return rc;

    tt_future **u;
    size_t nu;
    if ((rc = unique_futures(fs, n, &u, &nu, NULL)) < 0)
        return rc;
    wait_fut *w = future_alloc(loop, sizeof *w, &wait_ops);
    if (!w) {
        free(u);
        return -ENOMEM;
    }
    memset(&w->timer, 0, sizeof w->timer);
    w->timer.fire = wait_timer_fired;
    w->counter = nu;
    w->when = when;

    intptr_t r = 0;
    size_t added = 0;
    for (; added < nu; added++) {
        tt_ref(&w->fut);
        if (future_add_cb(u[added], wait_on_completion, w) < 0) {
            tt_unref(&w->fut);
            r = -ENOMEM;
            break;
        }
    }
    if (r == 0 && timeout >= 0 && timer_arm_in(loop, &w->timer, timeout) < 0)
        r = -ENOMEM;
    if (r == 0)
        r = tt_await(tt_ref(&w->fut));

    if (timer_armed(&w->timer))
        timer_disarm(loop, &w->timer);
    for (size_t i = 0; i < added; i++)
        for (int k = future_remove_cb(u[i], wait_on_completion, w); k > 0; k--)
            tt_unref(&w->fut);
    free(u);
    tt_unref(&w->fut);
    if (r < 0)
        return r;

    ssize_t done = 0;
    for (size_t i = 0; i < n; i++)
        done += fs[i]->state == FS_DONE;
    return done;
}

/* ------------------------------------------------------------------ tt_as_completed */

/* The iterator is a future only for its reference count: done-callbacks that are already
 * scheduled when the user frees it must still find it alive. Every input has an index (its
 * place in the first array, then in the order of tt_as_completed_add) kept with it, so next()
 * says which input finished without a search. It holds pending inputs (in reusable slots, the
 * slot number carried by the callback), finished ones not yet handed out, and the last one
 * handed out: a long "N items, K in flight" iteration costs memory for K, not N. */
typedef struct ac_entry {
    tt_future *f; /* NULL: a free slot */
    size_t index;
} ac_entry;

struct tt_as_completed {
    tt_future fut;
    ac_entry *slots;    /* pending inputs, each with a reference of ours */
    size_t nslots, capslots;
    size_t *free_slots; /* a stack of free slot numbers */
    size_t nfree;
    size_t nindex;      /* the next index to give */
    size_t remaining;   /* inputs not yet seen complete */
    ac_entry *done;     /* completion order: [dhead, dtail) not yet handed out */
    size_t dhead, dtail, capdone;
    tt_future *lent;    /* the last one handed out, with our reference until the next call */
    tt_future *waiter;  /* the pending next() call's wake-up */
    tt_timer timer;
    int64_t deadline;   /* TT_FOREVER: none */
    uint8_t timed_out;
    uint8_t closed;
};

static void ac_destroy(tt_future *f)
{
    tt_as_completed *it = (tt_as_completed *)f;
    free(it->slots);
    free(it->free_slots);
    free(it->done);
}

static const future_ops ac_ops = {"as_completed", NULL, ac_destroy};

static void ac_wake(tt_as_completed *it)
{
    if (it->waiter && it->waiter->state == FS_PENDING)
        future_complete(it->waiter, 0);
}

static void ac_on_completion(tt_future *f, void *arg)
{
    tt_as_completed *it = arg;
    if (!it->timed_out && !it->closed) {
        size_t slot = future_cb_slot();
        it->done[it->dtail++] = it->slots[slot]; /* room reserved by ac_reserve */
        it->slots[slot].f = NULL;
        it->free_slots[it->nfree++] = slot;
        (void)f;
        if (--it->remaining == 0 && timer_armed(&it->timer))
            timer_disarm(it->fut.loop, &it->timer);
        ac_wake(it);
    }
    tt_unref(&it->fut);
}

/* Detaches from every input still pending; what completes after this is not reported. */
static void ac_detach(tt_as_completed *it)
{
    for (size_t i = 0; i < it->nslots; i++)
        if (it->slots[i].f)
            for (int k = future_remove_cb(it->slots[i].f, ac_on_completion, it); k > 0; k--)
                tt_unref(&it->fut);
}

static void ac_timer_fired(tt_timer *t)
{
    tt_as_completed *it = TT_CONTAINER_OF(t, tt_as_completed, timer);
    it->timed_out = 1;
    ac_detach(it);
    ac_wake(it);
}

/* Room for k more pending inputs, and in done for every pending input finishing before the
 * next hand-out (callbacks never allocate). 0 or -ENOMEM. */
static int ac_reserve(tt_as_completed *it, size_t k)
{
    size_t in_use = it->nslots - it->nfree;
    if (in_use + k > it->capslots) {
        size_t cap = it->capslots ? it->capslots : 4;
        while (cap < in_use + k)
            cap *= 2;
        ac_entry *sl = realloc(it->slots, cap * sizeof *sl);
        if (!sl)
            return -ENOMEM;
        it->slots = sl;
        size_t *fr = realloc(it->free_slots, cap * sizeof *fr);
        if (!fr)
            return -ENOMEM;
        it->free_slots = fr;
        it->capslots = cap;
    }
    size_t need = (it->dtail - it->dhead) + it->remaining + k;
    if (it->dtail + it->remaining + k > it->capdone && it->dhead) {
        memmove(it->done, it->done + it->dhead, (it->dtail - it->dhead) * sizeof *it->done);
        it->dtail -= it->dhead;
        it->dhead = 0;
    }
    if (need > it->capdone) {
        size_t cap = it->capdone ? it->capdone : 4;
        while (cap < need)
            cap *= 2;
        ac_entry *d = realloc(it->done, cap * sizeof *d);
        if (!d)
            return -ENOMEM;
        it->done = d;
        it->capdone = cap;
    }
    return 0;
}

/* Registers one input (room reserved). 0 or -ENOMEM (nothing registered). */
static int ac_track(tt_as_completed *it, tt_future *f, size_t index)
{
    if (it->remaining == 0 && it->deadline >= 0 && !timer_armed(&it->timer) &&
        timer_arm(it->fut.loop, &it->timer, it->deadline) < 0)
        return -ENOMEM; /* cannot time the iteration: refuse rather than wait forever */
    size_t slot = it->nfree ? it->free_slots[--it->nfree] : it->nslots++;
    tt_ref(&it->fut);
    if (future_add_cb_slot(f, ac_on_completion, it, slot) < 0) {
        tt_unref(&it->fut);
        it->free_slots[it->nfree++] = slot;
        if (it->remaining == 0 && timer_armed(&it->timer))
            timer_disarm(it->fut.loop, &it->timer);
        return -ENOMEM;
    }
    it->slots[slot] = (ac_entry){tt_ref(f), index};
    it->remaining++;
    return 0;
}

tt_as_completed *tt_as_completed_new(tt_future *const *fs, size_t n, int64_t timeout)
{
    tt_loop *loop = tls_loop;
    if (!loop_on_thread(loop)) {
        errno = EPERM;
        return NULL;
    }
    int rc = check_inputs(fs, n, loop);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    tt_as_completed *it = future_alloc(loop, sizeof *it, &ac_ops);
    if (!it) {
        errno = ENOMEM;
        return NULL;
    }
    memset((char *)it + sizeof(tt_future), 0, sizeof *it - sizeof(tt_future));
    it->timer.fire = ac_timer_fired;
    it->deadline = timeout >= 0 ? deadline_after(timeout) : TT_FOREVER;
    it->nindex = n;
    tt_future **u = NULL;
    size_t nu = 0, *idx = NULL;
    if ((rc = unique_futures(fs, n, &u, &nu, &idx)) == 0 && (rc = ac_reserve(it, nu)) == 0)
        for (size_t i = 0; i < nu && rc == 0; i++)
            rc = ac_track(it, u[i], idx[i]);
    free(u);
    free(idx);
    if (rc < 0) {
        tt_as_completed_free(it); /* releases the inputs registered so far */
        errno = -rc;
        return NULL;
    }
    return it;
}

ssize_t tt_as_completed_add(tt_as_completed *it, tt_future *f)
{
    if (!it || !f)
        return -EINVAL;
    if (!loop_on_thread(it->fut.loop) || it->closed)
        return -EPERM;
    int rc = check_inputs(&f, 1, it->fut.loop);
    if (rc < 0)
        return rc;
    if (it->timed_out)
        return -ETIMEDOUT;
    if ((rc = ac_reserve(it, 1)) < 0 || (rc = ac_track(it, f, it->nindex)) < 0)
        return rc;
    return (ssize_t)it->nindex++;
}

int tt_as_completed_next(tt_as_completed *it, tt_future **f, size_t *index)
{
    if (f)
        *f = NULL;
    if (!it)
        return -EINVAL;
    tt_task *me = task_current();
    if (!me || me->fut.loop != it->fut.loop || it->closed)
        return -EPERM;
    if (it->waiter) /* another task is already waiting on this iterator */
        return -EBUSY;
    tt_ref(&it->fut); /* stay valid if freed by another task while we sleep */
    tt_unref(it->lent); /* the previous hand-out is the caller's business now */
    it->lent = NULL;
    int rc = 0;
    for (;;) {
        if (it->dhead < it->dtail) {
            ac_entry e = it->done[it->dhead++];
            it->lent = e.f;
            if (f)
                *f = e.f;
            if (index)
                *index = e.index;
            rc = 1;
            break;
        }
        if (it->timed_out) {
            rc = -ETIMEDOUT;
            break;
        }
        if (it->remaining == 0 || it->closed)
            break;
        tt_future *w = tt_future_new(it->fut.loop);
        if (!w) {
            rc = -ENOMEM;
            break;
        }
        it->waiter = w;
        intptr_t r = tt_await(tt_ref(w));
        it->waiter = NULL;
        tt_unref(w);
        if (r < 0) {
            rc = outcome_to_int(r);
            break;
        }
    }
    tt_unref(&it->fut);
    return rc;
}

void tt_as_completed_free(tt_as_completed *it)
{
    if (!it || it->closed || !loop_on_thread(it->fut.loop))
        return;
    it->closed = 1;
    if (timer_armed(&it->timer))
        timer_disarm(it->fut.loop, &it->timer);
    if (!it->timed_out)
        ac_detach(it);
    if (it->waiter && it->waiter->state == FS_PENDING)
        future_complete_cancelled(it->waiter, NULL);
    for (size_t i = 0; i < it->nslots; i++)
        tt_unref(it->slots[i].f);
    for (size_t i = it->dhead; i < it->dtail; i++)
        tt_unref(it->done[i].f);
    tt_unref(it->lent);
    it->nslots = it->nfree = it->dhead = it->dtail = 0;
    it->lent = NULL;
    tt_unref(&it->fut);
}

/* ----------------------------------------------------------------------- tt_wait_for */

/* tt_wait_for's wait for f (and its deadline, if any), in the caller's frame. The task waits in
 * f's list, as tt_await does (3.12's wait_for awaits the inner directly): no waiter future and
 * no callback node. f's completion moves the task to the ready queue with f's other waiters;
 * the timer or the caller's cancellation takes it out of f's list and wakes it. */
typedef struct timed_wait {
    tt_timer timer;
    task_waiter waiter;
    tt_task *task;
    tt_future *f;
    bool woken; /* taken out of f's list and woken (by the timer or a cancellation) */
} timed_wait;

/* Wakes the task unless f's completion already queued it. */
static void timed_wait_end(timed_wait *w)
{
    if (w->woken || w->f->state == FS_DONE)
        return;
    w->woken = true;
    future_unlink_waiter(w->f, &w->task->ri);
    task_wake(w->task);
}

static void timed_wait_fired(tt_timer *t) { timed_wait_end(TT_CONTAINER_OF(t, timed_wait, timer)); }

/* The caller's cancellation (task.c then leaves must_cancel set, which tt_wait_for reads). */
static void timed_wait_cancel(tt_loop *loop, task_waiter *tw)
{
    timed_wait *w = TT_CONTAINER_OF(tw, timed_wait, waiter);
    if (timer_armed(&w->timer))
        timer_disarm(loop, &w->timer);
    timed_wait_end(w);
}

static void timed_wait_describe(const task_waiter *tw, char *buf, size_t n)
{
    const timed_wait *w = TT_CONTAINER_OF(tw, timed_wait, waiter);
    if (timer_armed(&w->timer))
        snprintf(buf, n, "awaiting %s %p with a timeout, %.3f ms left", w->f->ops->what,
                 (const void *)w->f, (double)(w->timer.deadline - clock_now()) / 1e6);
    else
        snprintf(buf, n, "awaiting %s %p to end", w->f->ops->what, (const void *)w->f);
}

/* Waits in pending f's list for at most timeout ns (< 0: no limit); 1 if the caller was
 * cancelled meanwhile (the request is consumed: the caller delivers it by cancelling f), else 0.
 * A request made before the call is delivered the same way, one turn later. -ENOMEM if no
 * timer could be armed. */
static int timed_wait_on(tt_task *me, tt_future *f, int64_t timeout)
{
    tt_loop *loop = f->loop;
    timed_wait w = {.timer = {.fire = timed_wait_fired},
                    .waiter = {timed_wait_cancel, timed_wait_describe},
                    .task = me,
                    .f = f};
    if (timeout >= 0 && timer_arm_in(loop, &w.timer, timeout) < 0)
        return -ENOMEM;
    me->ri.next = NULL;
    *f->cb_tailp = &me->ri;
    f->cb_tailp = &me->ri.next;
    task_wait_other(me, &w.waiter, true);
    if (timer_armed(&w.timer))
        timer_disarm(loop, &w.timer);
    /* Every request that was not held back by a shield set must_cancel (task.c). */
    if (!me->must_cancel)
        return 0;
    task_withdraw_cancel(me);
    return 1;
}

/* Waits until f has ended, never returning earlier (3.12's wait_for, bpo-32751): every
 * cancellation of the caller meanwhile is forwarded to f. Sets *cancelled when there was one.
 * The test comes first and inline: a plain future has ended the moment it was cancelled. */
__attribute__((noinline)) static void wait_until_ended_slow(tt_task *me, tt_future *f,
                                                             bool *cancelled)
{
    while (f->state != FS_DONE) {
        if (timed_wait_on(me, f, -1) == 1) {
            *cancelled = true;
            future_cancel(f, NULL);
        }
    }
}

static inline void wait_until_ended(tt_task *me, tt_future *f, bool *cancelled)
{
    if (f->state != FS_DONE)
        wait_until_ended_slow(me, f, cancelled);
}

/* f has ended after we cancelled it (for a timeout when timed_out, else for the caller's own
 * cancellation): -ETIMEDOUT or -ECANCELED if it ended cancelled, else its own outcome, which
 * wins so that nothing it owns is lost; a cancellation of the caller then stays pending for its
 * next suspension point. Consumes f. */
static intptr_t ended_outcome(tt_task *me, tt_future *f, bool timed_out, bool cancelled)
{
    intptr_t r = take_result(f);
    if (r == -ECANCELED)
        return timed_out && !cancelled ? -ETIMEDOUT : -ECANCELED;
    if (cancelled)
        task_keep_cancel_soft(me);
    return r;
}

/* The deadline passed (or timeout was 0): cancel f and wait until it has ended. Consumes f. */
static intptr_t time_out(tt_task *me, tt_future *f)
{
    bool cancelled = false;
    future_cancel(f, NULL);
    wait_until_ended(me, f, &cancelled);
    return ended_outcome(me, f, true, cancelled);
}

intptr_t tt_wait_for(tt_future *f, int64_t timeout)
{
    if (!f)
        return -EINVAL;
    if (f->loop != tls_loop) /* another loop's: not ours to release from this thread */
        return task_current() ? -EINVAL : -EPERM;
    tt_task *me = task_current();
    if (!me || me->fut.loop != f->loop || f == &me->fut) { /* a task cannot wait on itself */
        tt_unref(f);
        return me ? -EINVAL : -EPERM;
    }
    if (f->state == FS_DONE)
        return take_result(f);
    if (timeout < 0)
        return tt_await(f); /* TT_FOREVER: no limit, asyncio's timeout=None */

    if (timeout == 0)
        return time_out(me, f);

    int c = timed_wait_on(me, f, timeout);
    if (c < 0) {
        tt_unref(f);
        return c;
    }

    /* An inner that has finished wins even over the caller's own cancellation, so a result
     * that owns a resource is never lost (3.11); but the cancellation is not swallowed (3.12):
     * it stays pending for the caller's next suspension point, as after an IO call. */
    if (f->state == FS_DONE)
        return ended_outcome(me, f, false, c);
    if (c) {
        /* The caller was cancelled: the inner is cancelled too and has ended before we
         * return, whatever happens meanwhile. */
        bool cancelled = true;
        future_cancel(f, NULL);
        wait_until_ended(me, f, &cancelled);
        return ended_outcome(me, f, false, cancelled);
    }
    return time_out(me, f);
}

/* -------------------------------------------------------------------------- tt_shield */

typedef struct shield_fut {
    tt_future fut;
    tt_future *inner; /* our reference, until the inner's callback ran or was removed */
} shield_fut;

static void shield_inner_done(tt_future *inner, void *arg);

static int shield_cancel(tt_future *f, const char *msg)
{
    shield_fut *s = (shield_fut *)f;
    future_complete_cancelled(f, msg);
    if (s->inner && s->inner->state == FS_PENDING) {
        int n = future_remove_cb(s->inner, shield_inner_done, s);
        if (n > 0) {
            tt_unref(s->inner);
            s->inner = NULL;
            for (; n > 0; n--)
                tt_unref(f);
        }
    }
    return 1;
}

static void shield_destroy(tt_future *f)
{
    shield_fut *s = (shield_fut *)f;
    tt_unref(s->inner);
    s->inner = NULL;
}

static const future_ops shield_ops = {"shield", shield_cancel, shield_destroy};

static void shield_inner_done(tt_future *inner, void *arg)
{
    shield_fut *s = arg;
    inner->retrieved = 1; /* asyncio reads inner.exception() whatever happens to the outer */
    if (s->fut.state == FS_PENDING) {
        if (inner->result == -ECANCELED)
            future_complete_cancelled(&s->fut, NULL);
        else
            future_complete(&s->fut, inner->result);
    }
    if (s->inner) {
        s->inner = NULL;
        tt_unref(inner);
    }
    tt_unref(&s->fut);
}

tt_future *tt_shield(tt_future *f)
{
    if (!f) {
        errno = EINVAL;
        return NULL;
    }
    int rc = future_check(f);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    if (f->state == FS_DONE)
        return tt_ref(f); /* asyncio's shortcut: the same future */
    shield_fut *s = future_alloc(f->loop, sizeof *s, &shield_ops);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->inner = tt_ref(f);
    tt_ref(&s->fut);
    if (future_add_cb(f, shield_inner_done, s) < 0) {
        tt_unref(&s->fut);
        tt_unref(&s->fut);
        errno = ENOMEM;
        return NULL;
    }
    return &s->fut;
}
