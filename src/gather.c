/* gather: a future that completes when its children have (or at the first failure), with
 * asyncio's rules for return_exceptions, duplicates and cancellation fan-out. One callback per
 * slot, so duplicates need no lookup and a slot's outcome is read from its child. */
#include "internal.h"

typedef struct gather {
    tt_future fut;
    size_t n, nfinished;
    unsigned flags;
    uint8_t cancel_requested;
    char *cancel_msg;
    tt_future **children;
} gather;

static int gather_cancel(tt_future *f, const char *msg);
static void gather_destroy(tt_future *f);
static const future_ops gather_ops = {"gather", gather_cancel, gather_destroy};

static void settle(gather *g, tt_future *child)
{
    /* Gather reports every outcome (or does not need to), so none warrants a warning. Marked
     * now, while the child is in cache, rather than in a sweep at the end. */
    child->retrieved = 1;
    if (g->fut.state == FS_DONE)
        return;
    if (!(g->flags & TT_GATHER_RETURN_ERRORS) && !g->cancel_requested && child->result < 0) {
        if (child->result == -ECANCELED)
            future_complete_cancelled(&g->fut, child->cancel_msg);
        else
            future_complete(&g->fut, child->result);
        return;
    }
    if (g->nfinished < g->n)
        return;
    if (g->cancel_requested)
        future_complete_cancelled(&g->fut, g->cancel_msg);
    else
        future_complete(&g->fut, 0);
}

/* The gather holds one reference on itself while any child has not reported, so a caller that
 * drops it early (tt_gather returning the first failure) leaves no callback dangling. */
static void child_done(tt_future *child, void *arg)
{
    gather *g = arg;
    g->nfinished++;
    settle(g, child);
    if (g->nfinished == g->n)
        tt_unref(&g->fut);
}

static int gather_cancel(tt_future *f, const char *msg)
{
    gather *g = (gather *)f;
    int any = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (future_cancel(g->children[i], msg) == 1)
            any = 1;
    }
    if (any && !g->cancel_requested) {
        g->cancel_requested = 1;
        g->cancel_msg = tt_strdup_or_null(msg);
    }
    return any;
}

static void gather_destroy(tt_future *f)
{
    gather *g = (gather *)f;
    for (size_t i = 0; i < g->n; i++)
        tt_unref(g->children[i]);
    free(g->children);
    free(g->cancel_msg);
}

/* Returns a list of spare nodes (linked through ri.next) to the loop. */
static void put_nodes(tt_loop *loop, cb_node *list)
{
    while (list) {
        cb_node *next = (cb_node *)list->ri.next;
        cb_node_put(loop, list);
        list = next;
    }
}

/* Takes gather g's node for slot i off pending child f's callback list; returns it. */
static cb_node *unlink_gather_node(tt_future *f, gather *g, size_t i)
{
    ready_item **pp = &f->cb_head;
    for (;;) {
        cb_node *c = (cb_node *)*pp;
        if (c->ri.kind == RK_CALLBACK && c->fn.done == child_done && c->arg == g && c->slot == i)
            break;
        pp = &(*pp)->next;
    }
    cb_node *c = (cb_node *)*pp;
    *pp = c->ri.next;
    if (f->cb_tailp == &c->ri.next)
        f->cb_tailp = pp;
    c->ri.next = NULL;
    return c;
}

tt_future *tt_gather_future(tt_future *const *fs, size_t n, unsigned flags)
{
    tt_loop *loop = tls_loop;
    if (!loop) {
        errno = EPERM;
        return NULL;
    }
    if ((n && !fs) || (flags & ~TT_GATHER_RETURN_ERRORS)) {
        errno = EINVAL;
        return NULL;
    }
    gather *g = future_alloc(loop, sizeof(gather), &gather_ops);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->flags = flags;
    if (n == 0) {
        future_complete(&g->fut, 0);
        return &g->fut;
    }
    g->children = malloc(n * sizeof *g->children);
    /* Every callback node is taken before the first is registered: a registration that fails
     * half-way could not take back callbacks already queued for children that were done. */
    cb_node *spare = NULL;
    size_t got = 0;
    while (g->children && got < n) {
        cb_node *c = cb_node_get(loop);
        if (!c)
            break;
        c->ri.next = spare ? &spare->ri : NULL;
        spare = c;
        got++;
    }
    if (got < n) {
        put_nodes(loop, spare);
        tt_unref(&g->fut);
        errno = ENOMEM;
        return NULL;
    }
    /* One pass over the children checks and registers each (a million children do not fit in
     * any cache: a second pass would miss on every one again). Nodes for children already
     * done are queued only once every child has been checked, so a bad one can still undo. */
    ready_item *done_head = NULL, **done_tailp = &done_head;
    size_t i;
    for (i = 0; i < n; i++) {
        tt_future *f = fs[i];
        if (!f || f->loop != loop)
            break;
        cb_node *c = spare;
        spare = (cb_node *)c->ri.next;
        c->ri.kind = RK_CALLBACK;
        c->ri.type = CB_DONE;
        c->fn.done = child_done;
        c->arg = g;
        c->slot = i; /* tells duplicates apart when undoing */
        c->fut = f;
        c->ri.next = NULL;
        if (f->state == FS_DONE) {
            *done_tailp = &c->ri;
            done_tailp = &c->ri.next;
        } else {
            *f->cb_tailp = &c->ri;
            f->cb_tailp = &c->ri.next;
        }
        g->children[i] = tt_ref(f);
    }
    if (i < n) {
        while (i-- > 0) {
            tt_future *f = g->children[i];
            if (f->state != FS_DONE)
                put_nodes(loop, unlink_gather_node(f, g, i));
            tt_unref(f);
        }
        while (done_head) {
            ready_item *next = done_head->next;
            cb_node_put(loop, (cb_node *)done_head);
            done_head = next;
        }
        put_nodes(loop, spare);
        tt_unref(&g->fut);
        errno = EINVAL;
        return NULL;
    }
    g->n = n;
    while (done_head) {
        ready_item *next = done_head->next;
        cb_node *c = (cb_node *)done_head;
        c->fut->refs++; /* scheduled: the child stays alive until the callback has run */
        loop_push_ready(loop, done_head);
        done_head = next;
    }
    g->fut.refs++; /* dropped by the last child_done */
    return &g->fut;
}

int tt_gather(tt_future *const *fs, size_t n, intptr_t *results, unsigned flags)
{
    if (!task_current())
        return -EPERM;
    tt_future *g = tt_gather_future(fs, n, flags);
    if (!g)
        return -errno;
    intptr_t r = tt_await(tt_ref(g));
    if (results)
        for (size_t i = 0; i < n; i++)
            results[i] = tt_result(fs[i]);
    tt_unref(g);
    return outcome_to_int(r);
}
