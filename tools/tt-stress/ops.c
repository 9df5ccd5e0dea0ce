/* tt-stress operations: one offloaded blocking call from submission to its end, with the
 * bookkeeping that proves the runtime's promises — an id and a state byte per operation (ended
 * exactly once, discard called exactly when due: only for abandoned jobs), canaries around the
 * job's argument on the awaiting task's stack, and the outcome checks (right value, no early
 * timeout, and a job that ran to its end is never reported as cancelled unless it chose to). */
#define _GNU_SOURCE
#include "stress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Thread_local loop_ctx *stress_tls_ctx;
atomic_long stress_late_discards;

#define CANARY 0x5a17c0de0ddba11ULL
#define POISON 0xdeadbeefdeadbeefULL
/* A failing job returns -(ERR_BASE + id): negative, above every errno, and it still names its
 * operation so a discarded failure can be attributed. */
#define ERR_BASE 4096
#define IO_BLOCK 4096
#define IO_BLOCKS 256

/* The blocking call's argument. In the default mode it lives on the awaiting task's stack, as
 * real C code would do; with TT_JOB_ABANDON_ON_CANCEL it is on the heap (the caller's promise). */
typedef struct jobarg {
    uint64_t canary_head;
    uint64_t id;
    stress_shared *sh;
    int64_t cost_ns;
    stress_cost kind;
    int fail;
    int may_stop;          /* default mode: odd ids asked to stop end -ECANCELED (cooperative) */
    atomic_int ran, returned, unblocked, chose_cancel;
    int64_t t_run, t_ret;  /* tt_now() as the job started and as it returned (phases) */
    unsigned char buf[40]; /* the job writes here while it runs: the caller's memory */
    struct jobarg *next;   /* graveyard link */
    uint64_t canary_tail;
} jobarg;

/* The meeting point of the awaiting task and the future's done-callback; whichever of the two
 * comes second classifies the outcome and frees the record. */
typedef struct op_rec {
    loop_ctx *ctx;
    uint64_t id;
    jobarg *job; /* default mode: valid only while the task has not resumed */
    int abandon, cancel_expected;
    wait_kind how;
    int64_t t_submit, t_end, deadline;
    intptr_t fut_result, task_result;
    int fut_done, task_done;
    int ran, unblocked, returned, chose_cancel; /* snapshot of the job's flags */
} op_rec;

/* ------------------------------------------------------------------ state bytes */

static uint8_t *op_state(loop_ctx *ctx, uint64_t id)
{
    size_t c = (size_t)(id >> OPS_CHUNK_BITS);
    if (c >= ctx->nchunks)
        return NULL;
    return ctx->chunks[c] ? &ctx->chunks[c][id & ((1u << OPS_CHUNK_BITS) - 1)] : NULL;
}

/* A new id with its state byte allocated (not yet submitted). UINT64_MAX when out of memory. */
static uint64_t op_new_id(loop_ctx *ctx)
{
    uint64_t id = ctx->next_id;
    size_t c = (size_t)(id >> OPS_CHUNK_BITS);
    if (c >= ctx->nchunks) {
        size_t n = ctx->nchunks ? ctx->nchunks * 2 : 16;
        uint8_t **p = realloc(ctx->chunks, n * sizeof *p);
        if (!p)
            return UINT64_MAX;
        memset(p + ctx->nchunks, 0, (n - ctx->nchunks) * sizeof *p);
        ctx->chunks = p;
        ctx->nchunks = n;
    }
    if (!ctx->chunks[c] && !(ctx->chunks[c] = calloc(1, 1u << OPS_CHUNK_BITS)))
        return UINT64_MAX;
    ctx->next_id++;
    return id;
}

/* Counts one violation of a kind, keeps the first message, prints the first five. */
static void violation(loop_ctx *ctx, uint64_t *count, char *first, size_t first_size,
                      const char *fmt, va_list ap)
{
    char msg[200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (*count == 0)
        snprintf(first, first_size, "%s", msg);
    if (*count < 5)
        fprintf(stderr, "\ntt-stress: loop %u: %s\n", ctx->index, msg);
    (*count)++;
    atomic_fetch_add_explicit(&ctx->p_violations, 1, memory_order_relaxed);
}

void stress_semantic(loop_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    violation(ctx, &ctx->rep->semantic, ctx->rep->semantic_first,
              sizeof ctx->rep->semantic_first, fmt, ap);
    va_end(ap);
}

void stress_stream_bad(loop_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    violation(ctx, &ctx->rep->stream_bad, ctx->rep->stream_first,
              sizeof ctx->rep->stream_first, fmt, ap);
    va_end(ap);
}

static void mark_ended(loop_ctx *ctx, uint64_t id)
{
    stress_shared *sh = ctx->sh;
    /* Injected faults happen once, past the first few operations so they are mid-run. */
    if (sh->inject == INJECT_DROP && id >= 8 && !atomic_exchange(&sh->inject_done, 1))
        return;
    uint8_t *st = op_state(ctx, id);
    if (!st || !(*st & ST_SUBMITTED) || (*st & ST_ENDED)) {
        ctx->rep->doubled++;
        atomic_fetch_add_explicit(&ctx->p_violations, 1, memory_order_relaxed);
    } else {
        *st |= ST_ENDED;
        ctx->rep->ended++;
        atomic_store_explicit(&ctx->p_ended, ctx->rep->ended, memory_order_relaxed);
    }
    if (sh->inject == INJECT_DOUBLE && id >= 8 && !atomic_exchange(&sh->inject_done, 1))
        mark_ended(ctx, id);
}

uint64_t stress_op_begin(loop_ctx *ctx)
{
    uint64_t id = op_new_id(ctx);
    if (id == UINT64_MAX) {
        stress_semantic(ctx, "out of memory for an operation");
        return id;
    }
    *op_state(ctx, id) = ST_SUBMITTED;
    ctx->rep->submitted++;
    atomic_store_explicit(&ctx->p_submitted, ctx->rep->submitted, memory_order_relaxed);
    return id;
}

void stress_op_end(loop_ctx *ctx, uint64_t id, stress_outcome k, int64_t latency_ns)
{
    if (id == UINT64_MAX)
        return;
    mark_ended(ctx, id);
    uint64_t lat = latency_ns > 0 ? (uint64_t)latency_ns : 0;
    ctx->rep->outcomes[k]++;
    hist_record(&ctx->rep->lat[k], lat);
    hist_record(&ctx->rep->all, lat);
    if (k == OUT_ERROR)
        atomic_fetch_add_explicit(&ctx->p_errors, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ the job */

static int canaries_ok(const jobarg *j, uint64_t id)
{
    const volatile uint64_t *h = &j->canary_head, *t = &j->canary_tail;
    return *h == (CANARY ^ id) && *t == (CANARY ^ id);
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static intptr_t job_fn(void *arg)
{
    jobarg *j = arg;
    uint64_t id = j->id;
    stress_shared *sh = j->sh;
    j->t_run = tt_now();
    atomic_store_explicit(&j->ran, 1, memory_order_release);
    int bad = !canaries_ok(j, id);

    switch (j->kind) {
    case COST_SPIN: {
        int64_t end = mono_ns() + j->cost_ns;
        while (mono_ns() < end && !tt_job_cancelled())
            j->buf[0]++;
        break;
    }
    case COST_READ:
    case COST_FSYNC: {
        char block[IO_BLOCK];
        /* A per-id offset spreads the IO over the file without a shared generator. */
        off_t off = (off_t)((id * 0x9E3779B97F4A7C15ULL) >> 56) % IO_BLOCKS * IO_BLOCK;
        if (j->kind == COST_READ) {
            if (pread(sh->file_fd, block, sizeof block, off) < 0)
                block[0] = 0;
        } else {
            memset(block, (int)(id & 0xff), sizeof block);
            if (pwrite(sh->file_fd, block, sizeof block, off) < 0 || fdatasync(sh->file_fd) < 0)
                block[0] = 0;
        }
        memcpy(j->buf, block, sizeof j->buf);
        break;
    }
    default: {
        /* Sleep in slices of at most 1 ms so a cancelled job stops soon (cooperatively). */
        int64_t left = j->cost_ns;
        do {
            int64_t slice = left > 1000000 ? 1000000 : left;
            if (slice > 0)
                sleep_ns(slice);
            left -= slice;
            memset(j->buf, (int)(id & 0xff), sizeof j->buf);
        } while (left > 0 && !tt_job_cancelled());
        break;
    }
    }

    bad |= !canaries_ok(j, id);
    if (bad)
        atomic_fetch_add(&sh->canary_bad, 1);
    intptr_t r = j->fail ? -(intptr_t)(ERR_BASE + id) : (intptr_t)id;
    if (j->may_stop && (id & 1) && tt_job_cancelled()) {
        /* Asked to stop: this job chooses to end cancelled; even ids return their value. */
        atomic_store_explicit(&j->chose_cancel, 1, memory_order_relaxed);
        r = -ECANCELED;
    }
    j->t_ret = tt_now();
    /* The last touch of the caller's memory: after this store the awaiting task may go. */
    atomic_store_explicit(&j->returned, 1, memory_order_release);
    return r;
}

static void job_unblock(void *arg)
{
    atomic_store_explicit(&((jobarg *)arg)->unblocked, 1, memory_order_relaxed);
}

/* Attributes a late result through the id the job encoded in it: arg may be gone already
 * (default mode keeps it on a stack that the task has left by now). */
static void job_discard(intptr_t result, void *arg)
{
    (void)arg;
    loop_ctx *ctx = stress_tls_ctx;
    if (!ctx) {
        /* Not on a loop thread: the loop was freed before every late result came back. */
        atomic_fetch_add(&stress_late_discards, 1);
        return;
    }
    ctx->discard_called++;
    uint64_t id;
    if (result >= 0)
        id = (uint64_t)result;
    else if (result <= -ERR_BASE)
        id = (uint64_t)(-(result + ERR_BASE));
    else {
        ctx->rep->discard_mismatch++;
        return;
    }
    uint8_t *st = id < ctx->next_id ? op_state(ctx, id) : NULL;
    if (!st || (*st & ST_DISCARDED))
        ctx->rep->discard_mismatch++;
    else
        *st |= ST_DISCARDED;
}

static void job_opts_init(loop_ctx *ctx)
{
    ctx->opts_default = (tt_job_opts){0, job_unblock, job_discard};
    ctx->opts_abandon = (tt_job_opts){TT_JOB_ABANDON_ON_CANCEL, job_unblock, job_discard};
}

/* ------------------------------------------------------------------ classification */

static void snapshot(op_rec *o)
{
    o->ran = atomic_load_explicit(&o->job->ran, memory_order_acquire);
    o->unblocked = atomic_load_explicit(&o->job->unblocked, memory_order_relaxed);
    o->returned = atomic_load_explicit(&o->job->returned, memory_order_acquire);
    o->chose_cancel = atomic_load_explicit(&o->job->chose_cancel, memory_order_relaxed);
}

static void finalize(op_rec *o)
{
    loop_ctx *ctx = o->ctx;
    stress_report *rep = ctx->rep;
    intptr_t fr = o->fut_result, tr = o->task_result;
    stress_outcome k;
    if (tr == -ETIMEDOUT && o->how != WAIT_AWAIT)
        k = OUT_TIMED_OUT;
    else if (fr == -ECANCELED)
        k = !o->ran && !o->unblocked ? OUT_CANCEL_QUEUED
            : o->abandon && !o->returned ? OUT_ABANDONED : OUT_CANCEL_RUNNING;
    else if (fr < 0)
        k = OUT_ERROR;
    else
        k = OUT_OK;
    uint64_t lat = o->t_end > o->t_submit ? (uint64_t)(o->t_end - o->t_submit) : 0;
    rep->outcomes[k]++;
    hist_record(&rep->lat[k], lat);
    hist_record(&rep->all, lat);
    if (k == OUT_ERROR)
        atomic_fetch_add_explicit(&ctx->p_errors, 1, memory_order_relaxed);

    /* What the job returned, and what the awaiting side made of it. */
    if (fr >= 0 && (uint64_t)fr != o->id)
        stress_semantic(ctx, "op %llu: job result %ld, expected its id",
                        (unsigned long long)o->id, (long)fr);
    else if (fr < 0 && fr != -ECANCELED && fr != -(intptr_t)(ERR_BASE + o->id))
        stress_semantic(ctx, "op %llu: unexpected job outcome %ld (%s)",
                        (unsigned long long)o->id, (long)fr, tt_strerror(fr));
    if (tr == -ETIMEDOUT) {
        if (o->how == WAIT_AWAIT)
            stress_semantic(ctx, "op %llu: -ETIMEDOUT without any timeout", (unsigned long long)o->id);
        else if (o->t_end < o->deadline)
            stress_semantic(ctx, "op %llu: timed out %lld ns before its deadline",
                            (unsigned long long)o->id, (long long)(o->deadline - o->t_end));
        else if (o->how == WAIT_FOR && fr != -ECANCELED)
            stress_semantic(ctx, "op %llu: tt_wait_for answered -ETIMEDOUT but the job ended %ld",
                            (unsigned long long)o->id, (long)fr);
    } else if (tr == -ECANCELED && !o->cancel_expected) {
        stress_semantic(ctx, "op %llu: -ECANCELED that nobody asked for", (unsigned long long)o->id);
    } else if (tr != fr) {
        /* A result the job's future holds reaches the awaiting side, cancelled or not. */
        stress_semantic(ctx, "op %llu: the awaiting side saw %ld, the job's future %ld",
                        (unsigned long long)o->id, (long)tr, (long)fr);
    }
    if (!o->abandon && fr == -ECANCELED && o->returned && !o->chose_cancel)
        stress_semantic(ctx, "op %llu: its job ran to the end, yet ended cancelled (result lost)",
                        (unsigned long long)o->id);
    if (o->unblocked && fr != -ECANCELED && tr == fr)
        rep->cancel_too_late++; /* asked to stop while running: answered with its own result */

    if (o->abandon) {
        /* A cancelled job may still run (or be about to): its argument stays until the end. */
        if (fr == -ECANCELED) {
            o->job->next = ctx->graveyard;
            ctx->graveyard = o->job;
        } else {
            free(o->job);
        }
    }
    ctx->ops_open--;
    free(o);
}

static void op_done_cb(tt_future *f, void *arg)
{
    op_rec *o = arg;
    loop_ctx *ctx = o->ctx;
    o->fut_result = tt_result(f);
    tt_unref(f);
    /* The job's argument is readable here unless the task already resumed (then its own
     * snapshot stands); in abandon mode it is on the heap until the end. */
    if (o->abandon || !o->task_done)
        snapshot(o);
    mark_ended(ctx, o->id);
    if (o->abandon && o->fut_result == -ECANCELED && (o->ran || o->unblocked)) {
        /* An abandoned job that ran (or was running when cancelled) has a result nobody
         * reads; in the default mode the awaiting side reads every result. */
        uint8_t *st = op_state(ctx, o->id);
        if (st && !(*st & ST_EXPECT_DISCARD)) {
            *st |= ST_EXPECT_DISCARD;
            ctx->discard_expected++;
        }
    }
    o->fut_done = 1;
    if (o->task_done)
        finalize(o);
}

/* The phases of a call that ran and whose result the task awaited: submit -> start -> return
 * -> the task resumed. Reads the job's stamps after its `returned` store (acquire). */
static void record_phases(loop_ctx *ctx, const op_rec *o, const jobarg *j)
{
    stress_phases *ph = &ctx->rep->phases;
    if (!ph->source[0])
        snprintf(ph->source, sizeof ph->source, "tt-stress");
    int64_t q = j->t_run - o->t_submit, run = j->t_ret - j->t_run, res = o->t_end - j->t_ret;
    hist_record(&ph->h[PHASE_QUEUE], q > 0 ? (uint64_t)q : 0);
    hist_record(&ph->h[PHASE_RUN], run > 0 ? (uint64_t)run : 0);
    hist_record(&ph->h[PHASE_RESUME], res > 0 ? (uint64_t)res : 0);
}

intptr_t stress_do_op(loop_ctx *ctx, const stress_plan *spec, int cancel_expected)
{
    if (!ctx->opts_default.discard)
        job_opts_init(ctx);
    jobarg local;
    jobarg *j = spec->abandon ? malloc(sizeof *j) : &local;
    op_rec *o = malloc(sizeof *o);
    uint64_t id = op_new_id(ctx);
    if (!j || !o || id == UINT64_MAX) {
        if (j != &local)
            free(j);
        free(o);
        stress_semantic(ctx, "out of memory for an operation");
        return -ENOMEM;
    }
    memset(j, 0, sizeof *j);
    j->canary_head = j->canary_tail = CANARY ^ id;
    j->id = id;
    j->sh = ctx->sh;
    j->kind = ctx->sh->cfg->cost;
    j->cost_ns = spec->cost_ns;
    j->fail = spec->fail;
    j->may_stop = !spec->abandon;

    memset(o, 0, sizeof *o);
    o->ctx = ctx;
    o->id = id;
    o->job = j;
    o->abandon = spec->abandon;
    o->cancel_expected = cancel_expected;
    o->how = spec->how;
    o->t_submit = tt_now();

    tt_future *f = tt_to_thread_on(ctx->sh->pool, spec->abandon ? &ctx->opts_abandon : &ctx->opts_default,
                                   job_fn, j);
    if (!f) {
        int e = errno;
        if (j != &local)
            free(j);
        free(o);
        /* Cancelled while waiting for room in a bounded queue: nothing was submitted. */
        if (e == ECANCELED && cancel_expected)
            return -ECANCELED;
        stress_semantic(ctx, "tt_to_thread_on failed: %s", tt_strerror(-e));
        return -e;
    }
    uint8_t *st = op_state(ctx, id);
    *st = ST_SUBMITTED;
    ctx->rep->submitted++;
    ctx->ops_open++;
    atomic_store_explicit(&ctx->p_submitted, ctx->rep->submitted, memory_order_relaxed);
    tt_ref(f);
    if (tt_on_done(f, op_done_cb, o) < 0) {
        tt_unref(f);
        stress_semantic(ctx, "tt_on_done failed");
    }

    intptr_t r;
    if (spec->how == WAIT_FOR) {
        o->deadline = tt_now() + spec->timeout_ns;
        r = tt_wait_for(f, spec->timeout_ns);
    } else if (spec->how == WAIT_SCOPE) {
        tt_timeout t;
        int rc = tt_timeout_enter(&t, spec->timeout_ns);
        if (rc < 0)
            stress_semantic(ctx, "tt_timeout_enter: %s", tt_strerror(rc));
        o->deadline = TT_FOREVER;
        if (rc == 0 && (rc = tt_timeout_when(&t, &o->deadline)) < 0)
            stress_semantic(ctx, "tt_timeout_when: %s", tt_strerror(rc));
        r = tt_await(f);
        r = tt_timeout_exit(&t, r);
    } else {
        r = tt_await(f);
    }
    o->t_end = tt_now();

    /* The memory-safety rule: in the default mode the job has returned before we resume, and
     * it never wrote outside its argument. */
    snapshot(o);
    if (!canaries_ok(j, id)) {
        ctx->rep->canary_bad++;
        atomic_fetch_add_explicit(&ctx->p_violations, 1, memory_order_relaxed);
    }
    if (!spec->abandon && o->ran && !o->returned) {
        ctx->rep->early_resume++;
        atomic_fetch_add_explicit(&ctx->p_violations, 1, memory_order_relaxed);
        if (ctx->rep->early_resume == 1)
            fprintf(stderr, "\ntt-stress: op %llu: task resumed (%s) before its running job returned\n",
                    (unsigned long long)id, tt_strerror(r));
    }
    /* Phases only for a call the task really awaited to its end: not a cancelled or timed-out
     * wait, whose resume measures the cancel, not the runtime's hand-back. */
    if (o->returned && r != -ECANCELED && r != -ETIMEDOUT)
        record_phases(ctx, o, j);
    o->task_result = r;
    o->task_done = 1;
    int fut_done = o->fut_done;
    if (fut_done)
        finalize(o); /* frees o */
    if (!spec->abandon) {
        /* Poison the frame we leave: a job still running would see it at its last check. */
        volatile uint64_t *h = &local.canary_head, *t = &local.canary_tail;
        *h = POISON;
        *t = POISON;
    }
    return r;
}

void stress_ops_finish(loop_ctx *ctx)
{
    stress_report *rep = ctx->rep;
    for (uint64_t id = 0; id < ctx->next_id; id++) {
        uint8_t st = *op_state(ctx, id);
        if ((st & ST_SUBMITTED) && !(st & ST_ENDED))
            rep->lost++;
        int want = !!(st & ST_EXPECT_DISCARD), got = !!(st & ST_DISCARDED);
        if (want != got)
            rep->discard_mismatch++;
    }
    rep->discard_expected += ctx->discard_expected;
    rep->discard_called += ctx->discard_called;
    for (size_t c = 0; c < ctx->nchunks; c++)
        free(ctx->chunks[c]);
    free(ctx->chunks);
    ctx->chunks = NULL;
    ctx->nchunks = 0;
}

void stress_free_graveyard(loop_ctx *ctx)
{
    while (ctx->graveyard) {
        jobarg *j = ctx->graveyard;
        ctx->graveyard = j->next;
        free(j);
    }
}
