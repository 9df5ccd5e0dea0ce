/* Futures: the state machine (pending -> done with one intptr_t outcome), reference counts,
 * done-callbacks and aggregates' members (deferred to the ready queue, FIFO), cancellation
 * dispatch by kind; and the freed loop's shell, which keeps the loop's memory while futures or
 * orphaned jobs use it. */
#include "internal.h"

#include <sys/mman.h>
#include <unistd.h>

static const future_ops plain_ops = {"future", NULL, NULL};

#define POPULATE_MIN (256 * 1024) /* malloc maps blocks this large: fresh pages */

/* The pages of a large tail about to be written from end to end, faulted in one call instead
 * of one fault each (a million-child gather: 6000 faults). A kernel without
 * MADV_POPULATE_WRITE (before 5.14) refuses it, and the pages fault as they are written. */
static void populate(char *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t pg = (uintptr_t)getpagesize();
    uintptr_t lo = ((uintptr_t)p + pg - 1) & ~(pg - 1), hi = ((uintptr_t)p + n) & ~(pg - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
    (void)p, (void)n;
#endif
}

void *future_alloc_tail(tt_loop *loop, size_t size, size_t tail, const future_ops *ops)
{
    if (tail > SIZE_MAX - size)
        return NULL;
    unsigned c = slab_class(size + tail);
    tt_future *f = c < SIZE_CLASSES ? slab_get(loop, c) : malloc(size + tail);
    if (!f)
        return NULL;
    if (tail >= POPULATE_MIN)
        populate((char *)f + size, tail);
    memset(f, 0, size);
    future_init(f, loop, c, ops);
    return f;
}

void future_release(tt_future *f)
{
    tt_loop *loop = f->loop;
    if (TT_UNLIKELY(loop->debug) && !future_is_task(f))
        debug_unretrieved(f, NULL); /* a task checks itself, by name (task_destroy) */
    if (f->ops->destroy)
        f->ops->destroy(f);
    /* Callbacks of a future that never completed never run. */
    for (ready_item *it = f->cb_head, *next; it; it = next) {
        next = it->next;
        if (it->kind == RK_CALLBACK && !(it->type & CB_EMBEDDED))
            cb_node_put(loop, (cb_node *)it);
    }
    if (TT_UNLIKELY(f->cancel_msg))
        free(f->cancel_msg);
    live_add(LIVE_FUTURES, -1);
    loop->shell.live_futures--;
    if (f->size_class < SIZE_CLASSES)
        slab_put(loop, f->size_class, f);
    else
        free(f);
}

/* ------------------------------------------------------------------ the shell */

void shell_init(tt_loop *loop)
{
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE); /* a release can release more */
    pthread_mutex_init(&loop->shell.mu, &ma);
    pthread_mutexattr_destroy(&ma);
}

void shell_enter(tt_loop *loop)
{
    pthread_mutex_lock(&loop->shell.mu);
    loop->shell.depth++;
}

/* Releases the graveyard once the loop is closed (before, its owner thread may be touching the
 * same reference counts without the lock), and frees the shell with its last future. */
void shell_leave(tt_loop *loop)
{
    loop_shell *sh = &loop->shell;
    if (loop->closed)
        while (sh->graveyard) {
            job *j = sh->graveyard;
            sh->graveyard = j->next;
            live_add(LIVE_JOBS, -1);
            if (--j->fut.refs == 0)
                future_release(&j->fut);
        }
    bool gone = --sh->depth == 0 && loop->closed && sh->live_futures == 0;
    pthread_mutex_unlock(&sh->mu);
    if (gone) {
        pthread_mutex_destroy(&sh->mu);
        slab_free_all(loop);
        free(loop);
    }
}

void shell_close(tt_loop *loop)
{
    shell_enter(loop);
    loop->closed = true;
    shell_leave(loop);
}

void shell_bury_job(job *j)
{
    tt_loop *loop = j->fut.loop;
    shell_enter(loop);
    j->next = loop->shell.graveyard;
    loop->shell.graveyard = j;
    shell_leave(loop);
}

/* A reference dropped after tt_loop_free (the owner thread or a worker). */
static void unref_closed(tt_future *f)
{
    tt_loop *loop = f->loop;
    shell_enter(loop);
    if (--f->refs == 0)
        future_release(f);
    shell_leave(loop);
}

int future_check(const tt_future *f)
{
    if (!f)
        return -EINVAL;
    if (!loop_on_thread(f->loop))
        return -EPERM;
    return 0;
}

int future_complete(tt_future *f, intptr_t result)
{
    if (f->state == FS_DONE)
        return -EBUSY;
    f->state = FS_DONE;
    f->result = result;
    if (f->cb_head) {
        /* Each scheduled callback keeps f alive until it has run (a registration alone does
         * not, or a pending future with callbacks could never be freed). */
        for (ready_item *it = f->cb_head; it; it = it->next)
            if (it->kind == RK_CALLBACK)
                f->refs++;
        /* Waiters and callbacks move to the ready queue as one splice, keeping their order. */
        tt_loop *loop = f->loop;
        *loop->ready.tailp = f->cb_head;
        loop->ready.tailp = f->cb_tailp;
        f->cb_head = NULL;
        f->cb_tailp = &f->cb_head;
    }
    return 0;
}

int future_complete_cancelled(tt_future *f, const char *msg)
{
    if (f->state == FS_DONE)
        return -EBUSY;
    if (msg && !f->cancel_msg)
        f->cancel_msg = strdup(msg); /* on ENOMEM the message is lost, never the cancel */
    return future_complete(f, -ECANCELED);
}

void future_add_cb_node(tt_future *f, cb_node *n, uint8_t type,
                        void (*cb)(tt_future *, void *), void *arg)
{
    n->ri.type = type;
    n->fn.done = cb;
    n->arg = arg;
    n->fut = f;
    if (f->state == FS_DONE) {
        f->refs++; /* scheduled: f stays alive until the callback has run */
        loop_push_ready(f->loop, &n->ri);
    } else {
        n->ri.next = NULL;
        *f->cb_tailp = &n->ri;
        f->cb_tailp = &n->ri.next;
    }
}

static int add_cb(tt_future *f, uint8_t type, void (*cb)(tt_future *, void *), void *arg)
{
    cb_node *n = cb_node_get(f->loop);
    if (!n)
        return -ENOMEM;
    future_add_cb_node(f, n, type, cb, arg);
    return 0;
}

static int remove_cb(tt_future *f, uint8_t type, void (*cb)(tt_future *, void *), void *arg)
{
    int removed = 0;
    ready_item **pp = &f->cb_head;
    while (*pp) {
        ready_item *it = *pp;
        cb_node *n = (cb_node *)it;
        if (it->kind == RK_CALLBACK && it->type == type && n->fn.done == cb && n->arg == arg) {
            *pp = it->next;
            cb_node_put(f->loop, n);
            removed++;
        } else {
            pp = &it->next;
        }
    }
    f->cb_tailp = pp;
    return removed;
}

void future_unlink_waiter(tt_future *f, ready_item *it)
{
    ready_item **pp = &f->cb_head;
    while (*pp != it)
        pp = &(*pp)->next;
    *pp = it->next;
    if (f->cb_tailp == &it->next)
        f->cb_tailp = pp;
}

int future_add_cb(tt_future *f, void (*cb)(tt_future *, void *), void *arg)
{
    return add_cb(f, CB_DONE, cb, arg);
}

/* The slot of the callback run_cb is running (future_cb_slot). */
static _Thread_local size_t tls_cb_slot;

size_t future_cb_slot(void) { return tls_cb_slot; }

int future_add_cb_slot(tt_future *f, void (*cb)(tt_future *, void *), void *arg, size_t slot)
{
    cb_node *n = cb_node_get(f->loop);
    if (!n)
        return -ENOMEM;
    n->slot = slot;
    future_add_cb_node(f, n, CB_DONE, cb, arg);
    return 0;
}

int future_remove_cb(tt_future *f, void (*cb)(tt_future *, void *), void *arg)
{
    return remove_cb(f, CB_DONE, cb, arg);
}

void future_remove_member(member *m)
{
    future_unlink_waiter(m->f, &m->ri);
    m->ri.next = NULL;
}

static void run_member(member *m)
{
    size_t i = (size_t)((uint64_t)m->ri.index_hi << 32 | m->ri.index_lo);
    member_set *s = TT_CONTAINER_OF(m - i, member_set, m);
    s->done(s, i);
}

/* Runs a callback node taken from the ready queue. Out of line, so that a member's dispatch
 * (a million per W4 gather) does not save the registers this one needs. */
__attribute__((noinline)) static void run_cb(tt_loop *loop, cb_node *n)
{
    if (n->ri.type & CB_DONE) {
        tt_future *f = n->fut;
        tls_cb_slot = n->slot;
        n->fn.done(f, n->arg);
        tt_unref(f);
    } else {
        uint8_t type = n->ri.type;
        n->fn.call(n->arg); /* may free an embedded node */
        if (type & CB_EMBEDDED)
            return;
    }
    if (!(n->ri.type & CB_EMBEDDED))
        cb_node_put(loop, n);
}

void future_run_item(tt_loop *loop, ready_item *it)
{
    if (it->kind == RK_MEMBER)
        run_member((member *)it);
    else
        run_cb(loop, (cb_node *)it);
}

/* ------------------------------------------------------------------- public API */

tt_future *tt_future_new(tt_loop *loop)
{
    if (!loop)
        loop = tls_loop;
    if (!loop) {
        errno = EPERM;
        return NULL;
    }
    if (!loop_on_thread(loop)) {
        errno = EPERM;
        return NULL;
    }
    tt_future *f = future_alloc(loop, sizeof(tt_future), &plain_ops);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    f->user_settable = 1;
    return f;
}

int tt_future_set(tt_future *f, intptr_t result)
{
    int rc = future_check(f);
    if (rc)
        return rc;
    if (!f->user_settable)
        return -EINVAL;
    return future_complete(f, result);
}

int future_cancel(tt_future *f, const char *msg)
{
    if (f->state == FS_DONE)
        return 0;
    if (f->ops->cancel)
        return f->ops->cancel(f, msg);
    future_complete_cancelled(f, msg);
    return 1;
}

int tt_cancel(tt_future *f, const char *msg)
{
    int rc = future_check(f);
    return rc ? rc : future_cancel(f, msg);
}

int tt_done(const tt_future *f) { return f && f->state == FS_DONE; }

int tt_cancelled(const tt_future *f) { return f && f->state == FS_DONE && f->result == -ECANCELED; }

intptr_t tt_result(const tt_future *f)
{
    if (!f)
        return -EINVAL;
    if (f->state != FS_DONE)
        return -EAGAIN;
    ((tt_future *)f)->retrieved = 1;
    return f->result;
}

const char *tt_cancel_message(const tt_future *f)
{
    if (!f)
        return NULL;
    if (f->state == FS_DONE)
        return f->result == -ECANCELED ? f->cancel_msg : NULL;
    if (future_is_task(f)) {
        const tt_task *t = (const tt_task *)f;
        return t->cancel_requests > 0 ? t->req_msg : NULL;
    }
    return NULL;
}

int tt_on_done(tt_future *f, void (*cb)(tt_future *, void *), void *arg)
{
    int rc = future_check(f);
    if (rc)
        return rc;
    if (!cb)
        return -EINVAL;
    return add_cb(f, CB_DONE | CB_PUBLIC, cb, arg);
}

int tt_remove_done(tt_future *f, void (*cb)(tt_future *, void *), void *arg)
{
    int rc = future_check(f);
    if (rc)
        return rc;
    if (!cb)
        return -EINVAL;
    return remove_cb(f, CB_DONE | CB_PUBLIC, cb, arg);
}

tt_future *tt_ref(tt_future *f)
{
    if (!f) {
        errno = EINVAL;
        return NULL;
    }
    f->refs++;
    return f;
}

void tt_unref(tt_future *f)
{
    if (!f)
        return;
    if (TT_UNLIKELY(f->loop->closed)) {
        unref_closed(f);
        return;
    }
    if (--f->refs == 0)
        future_release(f);
}
