/* The thread-safe API, built on the inbox: call_soon_threadsafe and run_coroutine_threadsafe
 * (tt_loop_submit + tt_cfuture). Each message is an inbox node whose handler runs on the loop. */
#include "internal.h"

/* ------------------------------------------------------------ call_soon_threadsafe */

typedef struct ts_call {
    inbox_node in;
    cb_node node;
    void (*cb)(void *);
    void *arg;
} ts_call;

static void ts_call_run(void *p)
{
    ts_call *c = p;
    c->cb(c->arg);
    free(c);
}

static void ts_call_discard(cb_node *n) { free(n->arg); }

/* The inbox handler: the call runs as a callback of the loop's next turn. */
static void ts_call_arrived(tt_loop *loop, inbox_node *m)
{
    loop_push_ready(loop, &TT_CONTAINER_OF(m, ts_call, in)->node.ri);
}

int tt_call_soon_threadsafe(tt_loop *loop, void (*cb)(void *), void *arg)
{
    if (!cb)
        return -EINVAL;
    if (!loop && !(loop = tls_loop))
        return -EPERM; /* NULL means this thread's loop, and it has none */
    ts_call *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->in.handle = ts_call_arrived;
    c->cb = cb;
    c->arg = arg;
    c->node.ri.kind = RK_CALLBACK;
    c->node.ri.type = CB_CALL | CB_EMBEDDED;
    c->node.fn.call = ts_call_run;
    c->node.arg = c;
    c->node.release = ts_call_discard;
    inbox_push(loop, &c->in);
    return 0;
}

/* ---------------------------------------------------------------- thread-safe tasks */

struct tt_cfuture {
    inbox_node submit_in;
    inbox_node cancel_in;
    atomic_int refs; /* the handle, the loop side, a queued cancel message */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int cancel_requested;
    intptr_t result;
    tt_fn fn;
    void *arg;
    tt_loop *loop;
    tt_future *task; /* loop side */
};

static void cf_release(tt_cfuture *cf)
{
    if (atomic_fetch_sub(&cf->refs, 1) == 1) {
        pthread_mutex_destroy(&cf->mu);
        pthread_cond_destroy(&cf->cv);
        free(cf);
    }
}

static void cf_settle(tt_cfuture *cf, intptr_t r)
{
    pthread_mutex_lock(&cf->mu);
    cf->done = 1;
    cf->result = r;
    pthread_cond_broadcast(&cf->cv);
    pthread_mutex_unlock(&cf->mu);
    cf_release(cf); /* the loop side's reference */
}

static void cf_task_done(tt_future *f, void *arg)
{
    tt_cfuture *cf = arg;
    cf->task = NULL;
    intptr_t r = tt_result(f);
    tt_unref(f);
    cf_settle(cf, r);
}

static void cf_start(tt_loop *loop, inbox_node *m)
{
    tt_cfuture *cf = TT_CONTAINER_OF(m, tt_cfuture, submit_in);
    if (loop->closing) {
        cf_settle(cf, -ECANCELED);
        return;
    }
    tt_future *t = tt_spawn_on(loop, NULL, cf->fn, cf->arg);
    if (!t) {
        cf_settle(cf, -errno);
        return;
    }
    if (future_add_cb(t, cf_task_done, cf) < 0) {
        tt_cancel(t, NULL);
        tt_unref(t);
        cf_settle(cf, -ENOMEM);
        return;
    }
    cf->task = t;
}

static void cf_cancel_msg(tt_loop *loop, inbox_node *m)
{
    tt_cfuture *cf = TT_CONTAINER_OF(m, tt_cfuture, cancel_in);
    (void)loop;
    if (cf->task)
        tt_cancel(cf->task, NULL);
    cf_release(cf); /* the message's reference */
}

tt_cfuture *tt_loop_submit(tt_loop *loop, tt_fn fn, void *arg)
{
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    if (!loop && !(loop = tls_loop)) {
        errno = EPERM; /* NULL means this thread's loop, and it has none */
        return NULL;
    }
    tt_cfuture *cf = calloc(1, sizeof *cf);
    if (!cf) {
        errno = ENOMEM;
        return NULL;
    }
    if (pthread_mutex_init(&cf->mu, NULL) != 0 || cond_init_monotonic(&cf->cv) != 0) {
        free(cf);
        errno = ENOMEM;
        return NULL;
    }
    atomic_init(&cf->refs, 2);
    cf->fn = fn;
    cf->arg = arg;
    cf->loop = loop;
    cf->submit_in.handle = cf_start;
    cf->cancel_in.handle = cf_cancel_msg;
    inbox_push(loop, &cf->submit_in);
    return cf;
}

int tt_cfuture_wait(tt_cfuture *cf, int64_t timeout, intptr_t *result)
{
    if (!cf)
        return -EINVAL;
    if (tls_loop == cf->loop)
        return -EPERM; /* the loop would wait for itself */
    struct timespec dl;
    if (timeout >= 0)
        timespec_after(&dl, timeout);
    int rc = 0;
    pthread_mutex_lock(&cf->mu);
    while (!cf->done && rc == 0)
        rc = timeout < 0 ? pthread_cond_wait(&cf->cv, &cf->mu)
                         : pthread_cond_timedwait(&cf->cv, &cf->mu, &dl);
    int done = cf->done;
    intptr_t r = cf->result;
    pthread_mutex_unlock(&cf->mu);
    if (!done)
        return -ETIMEDOUT;
    if (result)
        *result = r;
    return 0;
}

int tt_cfuture_cancel(tt_cfuture *cf)
{
    if (!cf)
        return -EINVAL;
    pthread_mutex_lock(&cf->mu);
    int done = cf->done, again = cf->cancel_requested;
    cf->cancel_requested = 1;
    if (!done && !again) {
        /* Under the lock: the task cannot settle (and its loop cannot be freed) before the
         * message is in the inbox, where the loop's last drain will find it. */
        atomic_fetch_add(&cf->refs, 1);
        inbox_push(cf->loop, &cf->cancel_in);
    }
    pthread_mutex_unlock(&cf->mu);
    return done ? 0 : 1;
}

void tt_cfuture_free(tt_cfuture *cf)
{
    if (cf)
        cf_release(cf);
}
