/* The waiting combinators: tt_wait, tt_as_completed_*, tt_wait_for and tt_shield, each built the
 * way asyncio 3.11 builds it — a waiter future released by done-callbacks or a timer — so wake-ups
 * take the same number of loop turns and cancellation reaches the same futures. */
#include "internal.h"

/* ------------------------------------------------------------------ shared helpers */

/* The distinct futures of fs, in order of first appearance (asyncio works on set(fs)). */
static int unique_futures(tt_future *const *fs, size_t n, tt_future ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    tt_future **u = malloc(n * sizeof *u);
    if (!u)
        return -ENOMEM;
    size_t k = 0;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < k && u[j] != fs[i])
                j++;
            if (j == k)
                u[k++] = fs[i];
        }
    } else {
        /* A small open-addressing set keeps big inputs linear. */
        size_t cap = 32;
        while (cap < 2 * n)
            cap <<= 1;
        tt_future **set = calloc(cap, sizeof *set);
        if (!set) {
            free(u);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            size_t h = ((uintptr_t)fs[i] >> 4) * 0x9e3779b97f4a7c15ull;
            for (h &= cap - 1; set[h] && set[h] != fs[i]; h = (h + 1) & (cap - 1))
                ;
            if (!set[h]) {
                set[h] = fs[i];
                u[k++] = fs[i];
            }
        }
        free(set);
    }
    *out = u;
    *nout = k;
    return 0;
}

/* Every entry must be a live future of the caller's loop. */
static int check_inputs(tt_future *const *fs, size_t n, tt_loop *loop)
{
    if (n && !fs)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!fs[i])
            return -EINVAL;
        int rc = future_check(fs[i]);
        if (rc < 0)
            return rc;
        if (fs[i]->loop != loop)
            return -EINVAL;
    }
    return 0;
}

/* A plain future that completes when another one does (asyncio's _release_waiter partial). */
static void release_waiter_cb(tt_future *f, void *arg)
{
    (void)f;
    tt_future *waiter = arg;
    if (waiter->state == FS_PENDING)
        future_complete(waiter, 0);
    tt_unref(waiter);
}

/* Registers release_waiter_cb(waiter) on f; the registration holds a reference on waiter. */
static int add_release(tt_future *f, tt_future *waiter)
{
    tt_ref(waiter);
    int rc = future_add_cb(f, release_waiter_cb, waiter, 0);
    if (rc < 0)
        tt_unref(waiter);
    return rc;
}

static void remove_release(tt_future *f, tt_future *waiter)
{
    for (int n = future_remove_cb(f, release_waiter_cb, waiter); n > 0; n--)
        tt_unref(waiter);
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

static const future_ops wait_ops = {FK_OTHER, "wait", NULL, NULL};

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
    if ((rc = unique_futures(fs, n, &u, &nu)) < 0)
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
        if (future_add_cb(u[added], wait_on_completion, w, 0) < 0) {
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
 * scheduled when the user frees it must still find it alive. */
struct tt_as_completed {
    tt_future fut;
    tt_future **todo;   /* distinct inputs, each with a reference of ours */
    size_t ntodo;
    size_t remaining;   /* inputs not yet seen complete */
    tt_future **done;   /* completion order */
    size_t ndone, pos;  /* appended, handed out */
    tt_future *waiter;  /* the pending next() call's wake-up */
    tt_timer timer;
    uint8_t timed_out;
    uint8_t closed;
};

static void ac_destroy(tt_future *f)
{
    tt_as_completed *it = (tt_as_completed *)f;
    free(it->todo);
    free(it->done);
}

static const future_ops ac_ops = {FK_OTHER, "as_completed", NULL, ac_destroy};

static void ac_wake(tt_as_completed *it)
{
    if (it->waiter && it->waiter->state == FS_PENDING)
        future_complete(it->waiter, 0);
}

static void ac_on_completion(tt_future *f, void *arg)
{
    tt_as_completed *it = arg;
    if (!it->timed_out && !it->closed) {
        it->done[it->ndone++] = f;
        if (--it->remaining == 0 && timer_armed(&it->timer))
            timer_disarm(it->fut.loop, &it->timer);
        ac_wake(it);
    }
    tt_unref(&it->fut);
}

/* Detaches from every input still pending; what completes after this is not reported. */
static void ac_detach(tt_as_completed *it)
{
    for (size_t i = 0; i < it->ntodo; i++)
        for (int k = future_remove_cb(it->todo[i], ac_on_completion, it); k > 0; k--)
            tt_unref(&it->fut);
}

static void ac_timer_fired(tt_timer *t)
{
    tt_as_completed *it = TT_CONTAINER_OF(t, tt_as_completed, timer);
    it->timed_out = 1;
    ac_detach(it);
    ac_wake(it);
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
    if ((rc = unique_futures(fs, n, &it->todo, &it->ntodo)) < 0 ||
        (it->ntodo && !(it->done = malloc(it->ntodo * sizeof *it->done)))) {
        tt_unref(&it->fut);
        errno = rc < 0 ? -rc : ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < it->ntodo; i++) {
        tt_ref(it->todo[i]);
        tt_ref(&it->fut);
        if (future_add_cb(it->todo[i], ac_on_completion, it, 0) < 0) {
            tt_unref(&it->fut);
            tt_unref(it->todo[i]);
            it->ntodo = i; /* free releases the ones registered so far */
            tt_as_completed_free(it);
            errno = ENOMEM;
            return NULL;
        }
    }
    it->remaining = it->ntodo;
    if (it->ntodo && timeout >= 0 && timer_arm_in(loop, &it->timer, timeout) < 0) {
        tt_as_completed_free(it);
        errno = ENOMEM;
        return NULL;
    }
    return it;
}

tt_future *tt_as_completed_next(tt_as_completed *it, intptr_t *err)
{
    intptr_t dummy;
    if (!err)
        err = &dummy;
    if (!it) {
        *err = -EINVAL;
        errno = EINVAL;
        return NULL;
    }
    tt_task *me = task_current();
    if (!me || me->fut.loop != it->fut.loop || it->closed) {
        *err = -EPERM;
        errno = EPERM;
        return NULL;
    }
    if (it->waiter) { /* another task is already waiting on this iterator */
        *err = -EBUSY;
        errno = EBUSY;
        return NULL;
    }
    tt_ref(&it->fut); /* stay valid if freed by another task while we sleep */
    tt_future *out = NULL;
    intptr_t rc = 0;
    for (;;) {
        if (it->pos < it->ndone) {
            out = it->done[it->pos++];
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
            rc = r;
            break;
        }
    }
    tt_unref(&it->fut);
    *err = rc;
    if (rc < 0)
        errno = (int)-rc;
    return out;
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
    for (size_t i = 0; i < it->ntodo; i++)
        tt_unref(it->todo[i]);
    it->ntodo = 0;
    tt_unref(&it->fut);
}

/* ----------------------------------------------------------------------- tt_wait_for */

typedef struct release_timer {
    tt_timer timer;
    tt_future *waiter;
} release_timer;

static void release_timer_fired(tt_timer *t)
{
    release_timer *rt = TT_CONTAINER_OF(t, release_timer, timer);
    if (rt->waiter->state == FS_PENDING)
        future_complete(rt->waiter, 0);
}

/* asyncio's _cancel_and_wait: cancels f and waits until it has ended. 0, or -ECANCELED if
 * the caller was cancelled meanwhile (f may then still be running), or -ENOMEM. */
static intptr_t cancel_and_wait(tt_future *f)
{
    /* A plain future ends the moment it is cancelled: no waiter, no callback, no trip through
     * the loop (a cancellation of the caller stays pending for its next suspension point). */
    if (f->state == FS_PENDING && !f->ops->cancel) {
        future_cancel(f, NULL);
        return 0;
    }
    tt_future *waiter = tt_future_new(f->loop);
    if (!waiter)
        return -ENOMEM;
    intptr_t r = add_release(f, waiter);
    if (r == 0) {
        tt_cancel(f, NULL);
        r = tt_await(tt_ref(waiter));
        remove_release(f, waiter);
    }
    tt_unref(waiter);
    return r;
}

/* The deadline passed: cancel f, wait for it to end, and answer -ETIMEDOUT if it ended
 * cancelled, else its own outcome (it swallowed the cancellation or failed in cleanup).
 * Consumes f. */
static intptr_t time_out(tt_future *f)
{
    intptr_t r = cancel_and_wait(f);
    if (r < 0) {
        tt_unref(f);
        return r;
    }
    r = take_result(f);
    return r == -ECANCELED ? -ETIMEDOUT : r;
}

intptr_t tt_wait_for(tt_future *f, int64_t timeout)
{
    if (!f)
        return -EINVAL;
    int rc = future_check(f);
    if (rc < 0)
        return rc; /* not ours to release from this thread */
    tt_task *me = task_current();
    if (!me || me->fut.loop != f->loop) {
        tt_unref(f);
        return me ? -EINVAL : -EPERM;
    }
    if (f->state == FS_DONE)
        return take_result(f);
    if (timeout < 0)
        return tt_await(f); /* TT_FOREVER: no limit, asyncio's timeout=None */

    if (timeout == 0)
        return time_out(f);

    tt_future *waiter = tt_future_new(f->loop);
    if (!waiter) {
        tt_unref(f);
        return -ENOMEM;
    }
    intptr_t r;
    release_timer rt;
    memset(&rt, 0, sizeof rt);
    rt.timer.fire = release_timer_fired;
    rt.waiter = waiter;
    if (timer_arm_in(f->loop, &rt.timer, timeout) < 0 || add_release(f, waiter) < 0) {
        if (timer_armed(&rt.timer))
            timer_disarm(f->loop, &rt.timer);
        tt_unref(waiter);
        tt_unref(f);
        return -ENOMEM;
    }
    r = tt_await(tt_ref(waiter));
    if (timer_armed(&rt.timer))
        timer_disarm(f->loop, &rt.timer);
    remove_release(f, waiter);
    tt_unref(waiter);

    /* An inner that has finished wins even over the caller's own cancellation, so a result
     * that owns a resource is never lost (3.11); but the cancellation is not swallowed (3.12):
     * it stays pending for the caller's next suspension point, as after an IO call. */
    if (f->state == FS_DONE) {
        if (r == -ECANCELED)
            me->must_cancel = 1;
        return take_result(f);
    }
    if (r < 0) {
        /* The caller was cancelled: the inner is cancelled too and must have ended before
         * we return (bpo-32751), unless the caller is cancelled again meanwhile. */
        cancel_and_wait(f);
        tt_unref(f);
        return r;
    }
    return time_out(f);
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

static const future_ops shield_ops = {FK_OTHER, "shield", shield_cancel, shield_destroy};

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
    if (future_add_cb(f, shield_inner_done, s, 0) < 0) {
        tt_unref(&s->fut);
        tt_unref(&s->fut);
        errno = ENOMEM;
        return NULL;
    }
    return &s->fut;
}
