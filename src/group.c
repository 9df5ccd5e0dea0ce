/* Task groups (asyncio.TaskGroup, Python 3.11 semantics): children report through done-callbacks;
 * the first failure cancels the siblings and the owner; join waits for every child and takes
 * back the owner's cancellation the group caused, telling it from an outside one by the count. */
#include "internal.h"

/* The group is a future only for its reference count and the leak counters: a child's
 * done-callback that is already scheduled when the user frees the group must find it alive. */
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
    tt_future **children;      /* every child spawned, with our reference */
    size_t nchildren, cap;
    size_t running;            /* children not yet seen done */
    tt_future **errors;        /* failed children, completion order (borrowed from children) */
    size_t nerrors;
    tt_future *on_completed;   /* join's wake-up when the last child ends */
};

static void group_destroy(tt_future *f)
{
    tt_group *g = (tt_group *)f;
    for (size_t i = 0; i < g->nchildren; i++)
        tt_unref(g->children[i]);
    free(g->children);
    free(g->errors);
    tt_unref(g->on_completed);
    tt_unref(&g->owner->fut);
}

static const future_ops group_ops = {"group", NULL, group_destroy};

static void group_abort(tt_group *g)
{
    g->aborting = 1;
    for (size_t i = 0; i < g->nchildren; i++)
        if (g->children[i]->state != FS_DONE)
            tt_cancel(g->children[i], NULL);
}

static void on_child_done(tt_future *child, void *arg)
{
    tt_group *g = arg;
    if (g->freed) {
        tt_unref(&g->fut);
        return;
    }
    g->running--;
    if (g->running == 0 && g->on_completed && g->on_completed->state == FS_PENDING)
        future_complete(g->on_completed, 0);
    intptr_t r = child->result;
    if (r >= 0 || r == -ECANCELED) {
        tt_unref(&g->fut);
        return;
    }
    child->retrieved = 1; /* the group reports it */
    g->errors[g->nerrors++] = child;
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

tt_future *tt_group_spawn(tt_group *g, tt_fn fn, void *arg)
{
    int rc = group_check(g);
    if (rc == 0 && !fn)
        rc = -EINVAL;
    /* asyncio: "is finished" once join has nothing left to wait for, "shutting down" once
     * the group has cancelled its children. */
    if (rc == 0 && (g->joined || (g->exiting && g->running == 0) || g->aborting))
        rc = -EPERM;
    if (rc == 0 && g->nchildren == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        tt_future **c = realloc(g->children, cap * sizeof *c);
        if (c)
            g->children = c;
        tt_future **e = c ? realloc(g->errors, cap * sizeof *e) : NULL;
        if (e)
            g->errors = e;
        if (c && e)
            g->cap = cap;
        else
            rc = -ENOMEM;
    }
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    tt_future *t = tt_spawn_on(g->fut.loop, NULL, fn, arg);
    if (!t)
        return NULL;
    tt_ref(&g->fut);
    if (future_add_cb(t, on_child_done, g) < 0) {
        tt_unref(&g->fut);
        tt_cancel(t, NULL); /* it has not started: it never runs */
        tt_unref(t);
        errno = ENOMEM;
        return NULL;
    }
    g->children[g->nchildren++] = t;
    g->running++;
    return t;
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
    for (size_t i = 0; i < g->nchildren; i++) {
        tt_future *c = g->children[i];
        if (c->state == FS_DONE)
            continue;
        if (!g->joined)
            tt_cancel(c, NULL);
        for (int k = future_remove_cb(c, on_child_done, g); k > 0; k--)
            tt_unref(&g->fut);
    }
    tt_unref(&g->fut);
}
