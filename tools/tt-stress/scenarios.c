/* tt-stress scenarios: the worker tasks each loop runs — plain offloads, cancellation storms,
 * timeouts racing completions, task groups with failures, IO on the ring (io.c) — and the
 * loop's main task that starts the mix a scenario calls for and drains every late result
 * before the loop ends. */
#include "stress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef enum { W_OFFLOAD, W_TIMEOUT, W_GROUP, W_IO } worker_kind;

typedef struct worker {
    loop_ctx *ctx;
    worker_kind kind;
    double cancel_rate;
} worker;

int stress_take(loop_ctx *ctx)
{
    stress_shared *sh = ctx->sh;
    if (atomic_load_explicit(&sh->stop, memory_order_relaxed))
        return 0;
    if (sh->cfg->count) {
        if (ctx->taken >= ctx->quota)
            return 0;
        ctx->taken++;
        return 1;
    }
    return tt_now() < sh->deadline;
}

void stress_unit_done(loop_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->p_units, 1, memory_order_relaxed);
}

static int pick_abandon(loop_ctx *ctx)
{
    switch (ctx->sh->cfg->mode) {
    case MODE_ABANDON:
        return 1;
    case MODE_BOTH:
        return stress_coin(ctx, 0.5);
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ cancellation storms */

typedef struct child_op {
    loop_ctx *ctx;
    op_spec spec;
} child_op;

static intptr_t child_op_task(void *arg)
{
    child_op *c = arg;
    return stress_do_op(c->ctx, &c->spec);
}

/* One operation in a task of its own, cancelled after a random delay: right away (the job is
 * still queued when the pool is busy), during the job, or around its end (finishing). */
static void cancel_one(loop_ctx *ctx)
{
    child_op c = {ctx, {pick_abandon(ctx), stress_coin(ctx, ctx->sh->cfg->error_rate), WAIT_AWAIT, 0, 1}};
    tt_future *t = tt_spawn(child_op_task, &c);
    if (!t) {
        stress_semantic(ctx, "tt_spawn failed: %s", tt_strerror(-errno));
        return;
    }
    int64_t mean = ctx->sh->cfg->mean_ns;
    uint64_t pick = stress_rand(ctx) % 8;
    if (pick == 0) {
        tt_yield(); /* the child has submitted its job: cancel it while it is queued */
    } else {
        int64_t delay = (int64_t)(stress_rand01(ctx) * 2.5 * (double)(mean > 0 ? mean : 1000));
        tt_sleep(delay > 0 ? delay : 0);
    }
    tt_cancel(t, "tt-stress");
    tt_await(t); /* the child's own checks recorded everything */
}

static void worker_offload(worker *w)
{
    loop_ctx *ctx = w->ctx;
    while (stress_take(ctx)) {
        if (stress_coin(ctx, w->cancel_rate)) {
            cancel_one(ctx);
        } else {
            op_spec s = {pick_abandon(ctx), stress_coin(ctx, ctx->sh->cfg->error_rate), WAIT_AWAIT, 0, 0};
            stress_do_op(ctx, &s);
        }
        stress_unit_done(ctx);
    }
}

/* ------------------------------------------------------------------ timeouts */

static void worker_timeout(worker *w)
{
    loop_ctx *ctx = w->ctx;
    int64_t mean = ctx->sh->cfg->mean_ns;
    while (stress_take(ctx)) {
        op_spec s = {pick_abandon(ctx), stress_coin(ctx, ctx->sh->cfg->error_rate),
                     stress_coin(ctx, 0.5) ? WAIT_FOR : WAIT_SCOPE, 0, 0};
        /* Deadlines spread over the same range as the jobs' costs, so both win often. */
        s.timeout_ns = (int64_t)(stress_rand01(ctx) * 2.0 * (double)(mean > 0 ? mean : 1000));
        if (stress_rand(ctx) % 16 == 0)
            s.timeout_ns = 0;
        stress_do_op(ctx, &s);
        stress_unit_done(ctx);
    }
}

/* ------------------------------------------------------------------ task groups */

#define GROUP_MAX 8

typedef struct group_child {
    loop_ctx *ctx;
    int depth, nested, fail_job, fail_after;
    int returned;
    intptr_t rv; /* what the body returned: a failure is rv < 0 other than -ECANCELED */
} group_child;

static intptr_t run_group(loop_ctx *ctx, int depth);

static intptr_t group_child_task(void *arg)
{
    group_child *k = arg;
    intptr_t r;
    if (k->nested) {
        r = run_group(k->ctx, k->depth + 1);
    } else {
        op_spec s = {pick_abandon(k->ctx), k->fail_job, WAIT_AWAIT, 0, 1};
        r = stress_do_op(k->ctx, &s);
        if (r >= 0 && k->fail_after)
            r = -EPROTO; /* the body fails after its call succeeded */
    }
    k->rv = r;
    k->returned = 1;
    return r;
}

static int is_failure(intptr_t r)
{
    return r < 0 && r != -ECANCELED;
}

/* A group of 2..8 children, some failing, some running nested groups; checks join against
 * what the children really returned (Python 3.11 TaskGroup rules). */
static intptr_t run_group(loop_ctx *ctx, int depth)
{
    double er = ctx->sh->cfg->error_rate;
    tt_group *g = tt_group_new();
    if (!g) {
        stress_semantic(ctx, "tt_group_new failed: %s", tt_strerror(-errno));
        return -errno;
    }
    group_child kids[GROUP_MAX];
    size_t n = 2 + (size_t)(stress_rand(ctx) % (GROUP_MAX - 1));
    for (size_t i = 0; i < n; i++) {
        kids[i] = (group_child){ctx, depth, depth < 2 && stress_coin(ctx, 0.15),
                                stress_coin(ctx, er), stress_coin(ctx, er / 2), 0, 0};
        tt_future *kid = tt_group_spawn(g, group_child_task, &kids[i]);
        if (!kid)
            stress_semantic(ctx, "tt_group_spawn failed: %s", tt_strerror(-errno));
        tt_unref(kid); /* the group keeps what it needs */
    }
    intptr_t rc = tt_group_join(g);

    size_t nfail = 0;
    for (size_t i = 0; i < n; i++)
        nfail += kids[i].returned && is_failure(kids[i].rv);
    tt_future *failed[GROUP_MAX];
    size_t ne = tt_group_errors(g, failed, GROUP_MAX);
    if (ne != nfail)
        stress_semantic(ctx, "group (depth %d): %zu errors listed, %zu children failed", depth, ne, nfail);
    else if (nfail == 0 && rc != 0 && !(depth > 0 && rc == -ECANCELED))
        stress_semantic(ctx, "group (depth %d): join returned %ld (%s) though no child failed",
                        depth, (long)rc, tt_strerror(rc));
    else if (nfail > 0 && rc != tt_result(failed[0]))
        stress_semantic(ctx, "group (depth %d): join returned %ld, the first failure was %ld",
                        depth, (long)rc, (long)tt_result(failed[0]));
    if (depth == 0 && tt_cancelling(tt_current_task()) != 0)
        stress_semantic(ctx, "group: join left its owner with %d cancel request(s)",
                        tt_cancelling(tt_current_task()));
    tt_group_free(g);
    ctx->rep->groups++;
    ctx->rep->groups_failed += nfail > 0;
    return rc;
}

static void worker_group(worker *w)
{
    while (stress_take(w->ctx)) {
        run_group(w->ctx, 0);
        stress_unit_done(w->ctx);
    }
}

static intptr_t worker_task(void *arg)
{
    worker *w = arg;
    switch (w->kind) {
    case W_OFFLOAD:
        worker_offload(w);
        break;
    case W_TIMEOUT:
        worker_timeout(w);
        break;
    case W_GROUP:
        worker_group(w);
        break;
    case W_IO:
        stress_io_worker(w->ctx, w->cancel_rate);
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------ the loop's main task */

/* How many io workers fit the process's descriptor limit: each holds up to six fds (its
 * stream, its idle pair, one more while reconnecting), and every loop has its share. */
static unsigned io_worker_cap(const stress_config *cfg)
{
    struct rlimit rl;
    rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    if (n == RLIM_INFINITY || n > 1000000)
        n = 1000000;
    long per = ((long)n - 128) / 6 / (long)cfg->loops;
    return per > 0 ? (unsigned)per : 1;
}

intptr_t stress_loop_main(void *arg)
{
    loop_ctx *ctx = arg;
    const stress_config *cfg = ctx->sh->cfg;
    unsigned c = cfg->concurrency;
    /* Group workers each have up to 8 children in flight: fewer of them for the same load. */
    unsigned per_group = c / 5 ? c / 5 : 1;
    unsigned nw = 0, cap = c + 4;
    worker *ws = calloc(cap, sizeof *ws);
    tt_future **fs = calloc(cap, sizeof *fs);
    if (!ws || !fs) {
        free(ws);
        free(fs);
        ctx->setup_error = -ENOMEM;
        return -ENOMEM;
    }
#define ADD(kind_, rate_, howmany_)                                                        \
    for (unsigned i_ = 0; i_ < (howmany_) && nw < cap; i_++)                              \
        ws[nw++] = (worker){ctx, kind_, rate_}
    switch (cfg->scenario) {
    case SC_OFFLOAD:
    case SC_CANCEL:
        ADD(W_OFFLOAD, cfg->cancel_rate, c);
        break;
    case SC_TIMEOUT:
        ADD(W_TIMEOUT, 0, c);
        break;
    case SC_GROUP:
        ADD(W_GROUP, 0, per_group);
        break;
    case SC_IO: {
        unsigned cap_io = io_worker_cap(cfg);
        ADD(W_IO, cfg->cancel_rate, c < cap_io ? c : cap_io);
        break;
    }
    default: { /* mixed, mixed-lite: a quarter each, groups and io scaled down */
        unsigned q = c / 4 ? c / 4 : 1;
        unsigned nio = q / 2 ? q / 2 : 1, cap_io = io_worker_cap(cfg);
        ADD(W_OFFLOAD, cfg->cancel_rate, q);
        ADD(W_OFFLOAD, 1.0, q);
        ADD(W_TIMEOUT, 0, q);
        ADD(W_GROUP, 0, q / 5 ? q / 5 : 1);
        ADD(W_IO, cfg->cancel_rate, nio < cap_io ? nio : cap_io);
        break;
    }
    }
#undef ADD
    int have_io = 0;
    for (unsigned i = 0; i < nw; i++)
        have_io |= ws[i].kind == W_IO;
    if (have_io) {
        int rc = stress_io_setup(ctx);
        if (rc < 0) {
            fprintf(stderr, "tt-stress: loop %u: no loopback listener: %s\n", ctx->index, tt_strerror(rc));
            free(ws);
            free(fs);
            ctx->setup_error = rc;
            return rc;
        }
    }
    for (unsigned i = 0; i < nw; i++) {
        fs[i] = tt_spawn(worker_task, &ws[i]);
        if (!fs[i])
            stress_semantic(ctx, "tt_spawn failed: %s", tt_strerror(-errno));
    }
    for (unsigned i = 0; i < nw; i++)
        if (fs[i])
            tt_await(fs[i]);

    /* Late results of abandoned jobs still come back to discard,
     * and done-callbacks may still be queued: wait for them (bounded) before the loop ends. */
    int64_t limit = tt_now() + TT_SEC(10);
    while ((ctx->ops_open > 0 || ctx->discard_called < ctx->discard_expected) && tt_now() < limit)
        tt_sleep(TT_MS(1));
    stress_io_teardown(ctx);
    free(ws);
    free(fs);
    return 0;
}
