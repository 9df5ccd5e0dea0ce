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
    for (size_t i = 0; i < n; i++)
        if (!fs[i] || fs[i]->loop != loop) {
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
        while (spare) {
            cb_node *next = (cb_node *)spare->ri.next;
            cb_node_put(loop, spare);
            spare = next;
        }
        tt_unref(&g->fut);
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cb_node *c = spare;
        spare = (cb_node *)c->ri.next;
        c->ri.kind = RK_CALLBACK;
        future_add_cb_node(fs[i], c, CB_DONE, child_done, g);
        g->children[i] = tt_ref(fs[i]);
        g->n = i + 1;
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
