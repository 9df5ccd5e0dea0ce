/* Task groups (asyncio.TaskGroup, Python 3.11 semantics): children report through done-callbacks;
 * the first failure cancels the siblings and the owner; join waits for every child and takes
 * back the owner's cancellation the group caused, telling it from an outside one by the count.
 * A group holds only its running and failed children, and may limit how many run at once. */
#include "internal.h"

/* The group is a future only for its reference count and the leak counters: a child's
 * done-callback that is already scheduled when the user frees the group must find it alive.
 * It holds a reference on a child only while the child runs (a slot), and on failed children
 * (errors): a long-lived server group costs memory for its live and failed children only. */
struct tt_group {
    tt_future fut;
    tt_task *owner;            /* our reference */
    int base_cancels;          /* the owner's cancel count when the group was made */
    uint8_t exiting;           /* join has started */
    uint8_t joined;            /* join has returned */
    uint8_t aborting;          /* children were cancelled: no more spawning */
    uint8_t own_request;       /* the owner carries a cancel request of ours */
    uint8_t outside_cancel;    /* the owner was cancelled by someone else */
    uint8_t freed;
    tt_future **slots;         /* running children with our reference; NULL: a free slot */
    size_t nslots, cap;        /* slots in use or freed (high-water mark), allocated */
    size_t *free_slots;        /* a stack of free slot indices */
    size_t nfree;
    size_t running;            /* children not yet seen done */
    tt_future **errors;        /* failed children, completion order, with our reference */
    size_t nerrors, caperrors;
    unsigned limit;            /* tt_group_set_limit; 0: none */
    tt_future **waiters;       /* spawns waiting for a free place under the limit, FIFO */
    size_t nwaiters, capwaiters;
    tt_future *on_completed;   /* join's wake-up when the last child ends */
};

static void group_destroy(tt_future *f)
{
    tt_group *g = (tt_group *)f;
    for (size_t i = 0; i < g->nslots; i++)
        tt_unref(g->slots[i]);
    for (size_t i = 0; i < g->nerrors; i++)
        tt_unref(g->errors[i]);
    free(g->slots);
    free(g->free_slots);
    free(g->errors);
    free(g->waiters);
    tt_unref(g->on_completed);
    tt_unref(&g->owner->fut);
}

static const future_ops group_ops = {"group", NULL, group_destroy};

/* Wakes the first spawn waiting for a place (it checks again: the place may be gone). */
static void wake_one_waiter(tt_group *g)
{
    if (!g->nwaiters)
        return;
    tt_future *w = g->waiters[0];
    memmove(g->waiters, g->waiters + 1, --g->nwaiters * sizeof *g->waiters);
    if (w->state == FS_PENDING)
        future_complete(w, 0);
    tt_unref(w);
}

static void wake_waiters_with_room(tt_group *g)
{
    size_t room = g->limit == 0 ? SIZE_MAX : g->running < g->limit ? g->limit - g->running : 0;
    while (room-- && g->nwaiters)
        wake_one_waiter(g);
}

static void wake_all_waiters(tt_group *g)
{
    while (g->nwaiters)
        wake_one_waiter(g);
}

static void group_abort(tt_group *g)
{
    g->aborting = 1;
    wake_all_waiters(g); /* their spawns fail: the group is shutting down */
    for (size_t i = 0; i < g->nslots; i++)
        if (g->slots[i] && g->slots[i]->state != FS_DONE)
            tt_cancel(g->slots[i], NULL);
}

static void on_child_done(tt_future *child, void *arg)
{
    tt_group *g = arg;
    if (g->freed) {
        tt_unref(&g->fut);
        return;
    }
    size_t slot = future_cb_slot();
    g->slots[slot] = NULL;
    g->free_slots[g->nfree++] = slot;
    g->running--;
    if (g->running == 0 && g->on_completed && g->on_completed->state == FS_PENDING)
        future_complete(g->on_completed, 0);
    wake_waiters_with_room(g);
    intptr_t r = child->result;
    if (r >= 0 || r == -ECANCELED) {
        tt_unref(child); /* a child that succeeded (or was cancelled) costs nothing more */
        tt_unref(&g->fut);
        return;
    }
    child->retrieved = 1; /* the group reports it */
    g->errors[g->nerrors++] = child; /* room reserved by spawn; our reference moves here */
    if (g->owner->fut.state != FS_DONE && !g->aborting && !g->own_request) {
        /* Interrupt whatever the owner's body awaits; join takes this request back. */
        group_abort(g);
        g->own_request = 1;
        tt_cancel(&g->owner->fut, NULL);
    }
    tt_unref(&g->fut);
}

tt_group *tt_group_new(void)
{
    tt_task *me = task_current();
    if (!me) {
        errno = EPERM;
        return NULL;
    }
    tt_group *g = future_alloc(me->fut.loop, sizeof *g, &group_ops);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    memset((char *)g + sizeof(tt_future), 0, sizeof *g - sizeof(tt_future));
    g->owner = (tt_task *)tt_ref(&me->fut);
    g->base_cancels = me->cancel_requests;
    return g;
}

static int group_check(const tt_group *g)
{
    if (!g || g->freed)
        return -EINVAL;
    if (!loop_on_thread(g->fut.loop))
        return -EPERM;
    return 0;
}

/* Makes room for one more running child and for every running child failing. 0 or -ENOMEM. */
static int reserve(tt_group *g)
{
    if (!g->nfree && g->nslots == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        tt_future **s = realloc(g->slots, cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        g->slots = s;
        size_t *f = realloc(g->free_slots, cap * sizeof *f);
        if (!f)
            return -ENOMEM;
        g->free_slots = f;
        g->cap = cap;
    }
    size_t need = g->nerrors + g->running + 1;
    if (need > g->caperrors) {
        size_t cap = g->caperrors ? 2 * g->caperrors : 8;
        while (cap < need)
            cap *= 2;
        tt_future **e = realloc(g->errors, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        g->errors = e;
        g->caperrors = cap;
    }
    return 0;
}

/* Spawning is refused once join has nothing left to wait for ("is finished" in asyncio) and
 * once the group has cancelled its children ("shutting down"). */
static int spawn_refused(const tt_group *g)
{
    int rc = group_check(g);
    if (rc == 0 && (g->joined || (g->exiting && g->running == 0) || g->aborting))
        rc = -EPERM;
    return rc;
}

/* Waits, inside a task, until fewer than limit children run. 0, -ECANCELED, -EAGAIN outside a
 * task, -ENOMEM, or the refusal of a group that was joined, aborted or freed meanwhile. */
static int wait_for_place(tt_group *g)
{
    tt_task *me = task_current();
    if (!me || me->fut.loop != g->fut.loop)
        return -EAGAIN;
    tt_ref(&g->fut); /* a group freed while we wait must stay readable */
    int rc = 0;
    while (rc == 0 && g->limit && g->running >= g->limit) {
        if (g->nwaiters == g->capwaiters) {
            size_t cap = g->capwaiters ? 2 * g->capwaiters : 4;
            tt_future **w = realloc(g->waiters, cap * sizeof *w);
            if (!w) {
                rc = -ENOMEM;
                break;
            }
            g->waiters = w;
            g->capwaiters = cap;
        }
        tt_future *w = tt_future_new(g->fut.loop);
        if (!w) {
            rc = -ENOMEM;
            break;
        }
        g->waiters[g->nwaiters++] = tt_ref(w);
        intptr_t r = tt_await(tt_ref(w));
        for (size_t i = 0; i < g->nwaiters; i++)
            if (g->waiters[i] == w) { /* not woken: leave the line */
                memmove(&g->waiters[i], &g->waiters[i + 1],
                        (g->nwaiters - i - 1) * sizeof *g->waiters);
                g->nwaiters--;
                tt_unref(w);
                break;
            }
        if (r < 0 && w->state == FS_DONE && w->result == 0 && !g->freed)
            wake_waiters_with_room(g); /* woken but cancelled: the place goes to the next */
        tt_unref(w);
        if (r < 0)
            rc = (int)r;
        else
            rc = spawn_refused(g);
    }
    tt_unref(&g->fut);
    return rc;
}

tt_future *tt_group_spawn(tt_group *g, tt_fn fn, void *arg)
{
    int rc = spawn_refused(g);
    if (rc == 0 && !fn)
        rc = -EINVAL;
    if (rc == 0 && g->limit && g->running >= g->limit)
        rc = wait_for_place(g);
    if (rc == 0)
        rc = reserve(g);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    tt_future *t = tt_spawn_on(g->fut.loop, NULL, fn, arg);
    if (!t)
        return NULL;
    size_t slot = g->nfree ? g->free_slots[--g->nfree] : g->nslots++;
    tt_ref(&g->fut);
    if (future_add_cb_slot(t, on_child_done, g, slot) < 0) {
        tt_unref(&g->fut);
        g->free_slots[g->nfree++] = slot;
        tt_cancel(t, NULL); /* it has not started: it never runs */
        tt_unref(t);
        errno = ENOMEM;
        return NULL;
    }
    g->slots[slot] = tt_ref(t);
    g->running++;
    return t; /* the caller's reference */
}

int tt_group_set_limit(tt_group *g, unsigned max_running)
{
    int rc = group_check(g);
    if (rc < 0)
        return rc;
    g->limit = max_running;
    wake_waiters_with_room(g);
    return 0;
}

int tt_group_cancel(tt_group *g)
{
    int rc = group_check(g);
    if (rc < 0)
        return rc;
    if (!g->joined)
        group_abort(g);
    return 0;
}

/* A cancel request on the owner beyond the one the group made itself came from outside. */
static void note_outside_cancel(tt_group *g)
{
    if (g->owner->cancel_requests > g->base_cancels + g->own_request) {
        g->outside_cancel = 1;
        if (!g->aborting)
            group_abort(g);
    }
}

int tt_group_join(tt_group *g)
{
    int rc = group_check(g);
    if (rc < 0)
        return rc;
    tt_task *me = task_current();
    if (me != g->owner || g->exiting)
        return -EPERM;
    g->exiting = 1;
    note_outside_cancel(g);
    while (g->running > 0) {
        if (!g->on_completed && !(g->on_completed = tt_future_new(g->fut.loop))) {
            /* Without a wake-up future, poll: children still end and report. */
            if (tt_yield() < 0)
                note_outside_cancel(g);
            continue;
        }
        if (tt_await(tt_ref(g->on_completed)) < 0)
            note_outside_cancel(g);
        tt_unref(g->on_completed);
        g->on_completed = NULL;
    }
    g->joined = 1;
    if (g->own_request) {
        g->own_request = 0;
        if (tt_uncancel(&me->fut) <= g->base_cancels && me->must_cancel)
            task_withdraw_cancel(me); /* never delivered: the body did not suspend again */
    }
    if (g->nerrors)
        return outcome_to_int(g->errors[0]->result);
    return g->outside_cancel ? -ECANCELED : 0;
}

size_t tt_group_errors(tt_group *g, tt_future **failed, size_t max)
{
    if (group_check(g) < 0)
        return 0;
    for (size_t i = 0; failed && i < max && i < g->nerrors; i++)
        failed[i] = g->errors[i];
    return g->nerrors;
}

void tt_group_free(tt_group *g)
{
    if (group_check(g) < 0)
        return;
    g->freed = 1;
    wake_all_waiters(g);
    for (size_t i = 0; i < g->nslots; i++) {
        tt_future *c = g->slots[i];
        if (!c || c->state == FS_DONE)
            continue;
        if (!g->joined)
            tt_cancel(c, NULL);
        for (int k = future_remove_cb(c, on_child_done, g); k > 0; k--)
            tt_unref(&g->fut);
    }
    tt_unref(&g->fut);
}
