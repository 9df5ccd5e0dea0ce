/* Tasks: stackful coroutines with asyncio's life cycle — lazy FIFO start, await, sleep and yield
 * as the suspension points, cancellation requests delivered once at the next suspension. A task
 * that suspends hands the CPU straight to the next ready task of the current turn when there is
 * one, so a switch costs one stack swap, not two. Also what describes tasks: tt_loop_dump and
 * debug mode's slow-step and tasks-alive reports. */
#include "internal.h"

#include <assert.h>
#include <stdio.h>

#if !defined(TT_SANITIZING) && !defined(TT_CORO_UCONTEXT) /* those carry a larger tt_ctx */
static_assert(sizeof(tt_task) <= 128, "tt_task must fit the 128-byte slab class (see internal.h)");
#endif

static int task_cancel_op(tt_future *f, const char *msg);
static void task_destroy(tt_future *f);
const future_ops task_ops = {"task", task_cancel_op, task_destroy};

#define SLOW_STEP_NS TT_MS(100)

/* Debug mode: a step that ran too long without suspending. Kept out of line: inlined, its frame
 * would deepen every task's suspension by a cache line of fresh stack. */
__attribute__((noinline, cold)) static void step_ended(tt_loop *loop, tt_task *t)
{
    int64_t now = clock_now(), began = loop->tasks.step_started_at;
    loop->tasks.step_started_at = 0; /* a step that began before debug mode was on is not timed */
    if (began && now - began > SLOW_STEP_NS)
        debug_warn(loop, "task '%s' ran %.1f ms without suspending", tt_task_name(&t->fut),
                   (double)(now - began) / 1e6);
}

tt_task *task_current(void)
{
    tt_loop *loop = tls_loop;
    return loop ? loop->current : NULL;
}

void task_wake(tt_task *t)
{
    t->state = TS_READY;
    loop_push_ready(t->fut.loop, &t->ri);
}

/* The pending request's message is not needed once the task is done (tt_cancel_message reads
 * the future's): it goes now, while the task is in cache, handed over as the cancelled
 * future's message (no copy, which could fail) or freed; the release checks only the name. */
static void settle(tt_task *t, intptr_t r)
{
    char *msg = t->req_msg;
    t->req_msg = NULL;
    if (r == -ECANCELED || (t->must_cancel && !t->cancel_soft)) {
        t->fut.cancel_msg = msg; /* the task's own: never set before it ends */
        future_complete(&t->fut, -ECANCELED);
    } else {
        if (TT_UNLIKELY(msg))
            free(msg);
        future_complete(&t->fut, r);
    }
    t->fut.loop->tasks.n--;
    t->state = TS_DONE;
}

static inline void free_dead(tt_loop *loop)
{
    tt_task *t = loop->dead;
    loop->dead = NULL;
    tt_stack *s = t->stack;
    ctx_destroy(&t->ctx);
    stack_put(loop->stacks, s);
    t->stack = NULL;
    tt_unref(&t->fut); /* the loop's reference */
}

/* Out of line for a suspension, which rarely finds a dead task: inlined there, its registers
 * would be saved by every switch. A task's first step, which usually does, inlines it. */
__attribute__((noinline)) void task_free_dead(tt_loop *loop) { free_dead(loop); }

typedef struct for_each_ctx {
    void (*fn)(tt_task *t, void *arg);
    void *arg;
} for_each_ctx;

static void if_unfinished(tt_task *t, void *arg)
{
    const for_each_ctx *c = arg;
    if (t->state != TS_DONE) /* loop->dead still holds its stack */
        c->fn(t, c->arg);
}

/* Started tasks are found through the stacks they hold: a list of them would cost every task
 * two links, and every end of a task a cache miss in a neighbour's memory. */
void task_for_each(tt_loop *loop, void (*fn)(tt_task *t, void *arg), void *arg)
{
    for_each_ctx c = {fn, arg};
    stack_for_each_task(loop->stacks, if_unfinished, &c);
    /* What fn schedules goes behind the current tail, and is never a task that has not
     * started: stop at the tail. */
    if (!loop->ready.head)
        return;
    ready_item *last = TT_CONTAINER_OF(loop->ready.tailp, ready_item, next);
    for (ready_item *it = loop->ready.head;; it = it->next) {
        if (it->kind == RK_TASK) {
            tt_task *t = TT_CONTAINER_OF(it, tt_task, ri);
            if (t->state == TS_NEW)
                fn(t, arg);
        }
        if (it == last)
            break;
    }
}

static void task_entry(void *arg);

/* Gives a new task its stack, or settles it without one (cancelled before it started, or no
 * memory for a stack). Returns whether t can be switched to. */
static bool task_prepare(tt_loop *loop, tt_task *t)
{
    if (t->state != TS_NEW)
        return true;
    if (t->must_cancel) {
        settle(t, -ECANCELED); /* asyncio: the body never runs */
        tt_unref(&t->fut);
        return false;
    }
    tt_stack *s = stack_get(loop->stacks, t->stack_size);
    if (!s) {
        settle(t, -ENOMEM);
        tt_unref(&t->fut);
        return false;
    }
    /* fn and arg share their room with the context: the loop holds them until the switch that
     * follows (the caller's next step) reaches task_entry. */
    tt_fn fn = t->fn;
    void *arg = t->arg;
    memset(&t->ctx, 0, sizeof t->ctx); /* a fresh context: ucontext's box pointer lay over arg */
    if (ctx_make(&t->ctx, s->lo, s->size, task_entry, t) < 0) {
        stack_put(loop->stacks, s);
        settle(t, -ENOMEM);
        tt_unref(&t->fut);
        return false;
    }
    loop->tasks.entering_fn = fn;
    loop->tasks.entering_arg = arg;
    t->stack = s; /* the size asked for is not needed any more */
    s->task = t;
    return true;
}

bool task_switch_in(tt_loop *loop, tt_task *t)
{
    if (!task_prepare(loop, t))
        return false;
    t->state = TS_RUNNING;
    watchdog_step(loop, t);
    if (TT_UNLIKELY(loop->step_hooks & STEP_DEBUG))
        loop->tasks.step_started_at = clock_now();
    return true;
}

/* Out of line: it reads the clock, which only a loop with timers armed pays for. */
__attribute__((noinline)) static bool no_timer_due(tt_loop *loop)
{
    return timer_next_deadline(loop) > clock_now();
}

/* The same for a pool's check of a short-staffed batch (offload_check_staff): tasks that keep
 * yielding never let the loop run it, and a batch whose first job blocked waited for good. */
__attribute__((noinline)) static bool no_staff_check_due(tt_loop *loop)
{
    return loop->off.staff_due > clock_now();
}

/* Whether a new turn can start right here, without the loop: nothing waits outside the ready
 * queue (inbox, ring, batched jobs, due timers) and nobody needs the loop to return. A turn
 * that starts here is exactly the turn the loop would start, minus two stack switches. */
static inline bool turn_boundary_is_quiet(tt_loop *loop)
{
    if (!loop->run_target || loop->run_target->state == FS_DONE || loop->off.submit_pending ||
        backend_busy(loop) || !inbox_empty(&loop->wake.in))
        return false;
    if (loop->timers.armed && !no_timer_due(loop))
        return false;
    if (loop->off.staff_due != TT_FOREVER && loop->off.jobs_inflight && !no_staff_check_due(loop))
        return false;
    loop->batch_last = TT_CONTAINER_OF(loop->ready.tailp, ready_item, next);
    return true;
}

/* pick_next's general case: a turn boundary that is not quiet, a callback next, step hooks. */
__attribute__((noinline)) static tt_ctx *pick_next_slow(tt_loop *loop)
{
    while (loop->ready.head && loop->ready.head->kind == RK_TASK &&
           (loop->batch_last || turn_boundary_is_quiet(loop))) {
        tt_task *n = TT_CONTAINER_OF(ready_pop(loop), tt_task, ri);
        loop->steps++;
        if (task_switch_in(loop, n)) {
            loop->current = n;
            return &n->ctx;
        }
    }
    loop->current = NULL;
    return &loop->ctx;
}

/* The context to run after the current task stops: the next task of this turn (or of a new
 * quiet turn) if the ready queue starts with one, else the loop. Sets loop->current. Inline,
 * with its common case first (the next item is a task, no step hooks): that case is the whole
 * cost of a switch beyond the stack swap. */
static inline tt_ctx *pick_next(tt_loop *loop)
{
    ready_item *it = loop->ready.head;
    if (TT_LIKELY(it && it->kind == RK_TASK && !loop->step_hooks) &&
        (loop->batch_last || turn_boundary_is_quiet(loop))) {
        tt_task *n = TT_CONTAINER_OF(it, tt_task, ri);
        ready_pop(loop);
        loop->steps++;
        if (TT_LIKELY(n->state != TS_NEW)) {
            n->state = TS_RUNNING;
        } else if (!task_switch_in(loop, n)) { /* settled without running: look further */
            return pick_next_slow(loop);
        }
        loop->current = n;
        return &n->ctx;
    }
    return pick_next_slow(loop);
}

/* Inline into tt_yield, whose whole cost is a switch (W5); the other callers take it out of
 * line. */
static inline __attribute__((always_inline)) void suspend(tt_task *t)
{
    tt_loop *loop = t->fut.loop;
    if (TT_UNLIKELY(loop->step_hooks & STEP_DEBUG))
        step_ended(loop, t);
    tt_ctx *next = pick_next(loop);
    /* Whoever switches back to t has made it loop->current (pick_next, the loop's dispatch). */
    if (next != &t->ctx)
        ctx_switch(&t->ctx, next);
    if (loop->dead)
        task_free_dead(loop);
}

void task_suspend(tt_task *t) { suspend(t); }

static void task_entry(void *arg)
{
    tt_task *t = arg;
    ctx_entered(&t->ctx);
    tt_loop *loop = t->fut.loop;
    tt_fn fn = loop->tasks.entering_fn; /* before anything else can run on this loop */
    void *fn_arg = loop->tasks.entering_arg;
    if (loop->dead)
        free_dead(loop);
    t->waiting_on = NULL;
    intptr_t r = fn(fn_arg);
    if (TT_UNLIKELY(loop->step_hooks & STEP_DEBUG))
        step_ended(loop, t);
    settle(t, r);
    loop->dead = t; /* the next context puts the stack back and drops the loop's reference */
    ctx_exit_to(&t->ctx, pick_next(loop));
}

int task_take_cancel(tt_task *t)
{
    if (!t->must_cancel)
        return 0;
    t->must_cancel = t->cancel_soft = 0;
    return -ECANCELED;
}

void task_withdraw_cancel(tt_task *t) { t->must_cancel = t->cancel_soft = 0; }

void task_keep_cancel_soft(tt_task *t) { t->must_cancel = t->cancel_soft = 1; }

/* ----------------------------------------------------------------- cancellation */

/* Counts a cancel request and interrupts what t waits on, unless a shield scope holds the
 * request back (tt_shield_enter): then it is only counted, and delivered at the scope's exit. */
static int task_request_cancel(tt_task *t, const char *msg, bool through_shields)
{
    tt_future *f = &t->fut;
    if (t->cancel_requests++ == 0 && msg && !t->req_msg)
        t->req_msg = strdup(msg);
    if (t->ri.shield_depth && !through_shields) {
        t->cancel_held = 1;
        t->ri.held_requests++;
        return 1;
    }
    switch (t->wait_kind) {
    case WAIT_FUTURE: {
        tt_future *w = t->waiting_on;
        /* asyncio: if what we wait on accepts the cancel, its outcome decides ours (a task
         * that swallows the cancellation hands its value back). A running job's value is
         * handed back too, but the request stays pending (must_cancel) for our next
         * suspension point. */
        if (w && future_cancel(w, msg) == 1 && !job_runs_on(w))
            return 1;
        break;
    }
    case WAIT_SLEEP:
        if (timer_armed(t->sleep_timer)) {
            timer_disarm(f->loop, t->sleep_timer);
            task_wake(t);
        }
        break;
    case WAIT_OTHER:
        t->waiter->cancel(f->loop, t->waiter);
        break;
    default:
        break;
    }
    /* Soft while we wait on a job: it answers with its value, which we will return. */
    t->cancel_soft = t->wait_kind == WAIT_FUTURE && future_is_job(t->waiting_on);
    t->must_cancel = 1;
    return 1;
}

static int task_cancel_op(tt_future *f, const char *msg)
{
    return task_request_cancel(task_of(f), msg, false);
}

int task_cancel_from_scope(tt_task *t, unsigned depth)
{
    if (t->fut.state == FS_DONE)
        return 0;
    return task_request_cancel(t, NULL, t->ri.shield_depth <= depth);
}

struct cancel_after {
    uint64_t after_id;
    const char *msg;
};

static void cancel_one(tt_task *t, void *arg)
{
    const struct cancel_after *c = arg;
    if (t->fut.state != FS_DONE && t->id > c->after_id)
        task_cancel_op(&t->fut, c->msg);
}

void task_cancel_all(tt_loop *loop, uint64_t after_id, const char *msg)
{
    struct cancel_after c = {after_id, msg};
    task_for_each(loop, cancel_one, &c);
}

/* ------------------------------------------------------------------ public API */

static void task_destroy(tt_future *f)
{
    tt_task *t = task_of(f);
    if (TT_UNLIKELY(f->loop->debug))
        debug_unretrieved(f, tt_task_name(f));
    if (TT_UNLIKELY(t->name)) /* most tasks have none: no call (req_msg went at the end) */
        free(t->name);
    live_add(LIVE_TASKS, -1);
}

tt_future *tt_spawn_on(tt_loop *loop, const tt_task_opts *o, tt_fn fn, void *arg)
{
    if (!(loop = loop_here(loop)) || loop->closing) {
        errno = EPERM;
        return NULL;
    }
    size_t ss = o ? o->stack_size : 0;
    if (!fn || ss > TT_MAX_STACK) {
        errno = EINVAL;
        return NULL;
    }
    if (ss && ss < 16384)
        ss = 16384;
    tt_task *t = future_alloc(loop, sizeof(tt_task), &task_ops);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    live_add(LIVE_TASKS, 1);
    if (o && o->name && !(t->name = strdup(o->name))) {
        tt_unref(&t->fut);
        errno = ENOMEM;
        return NULL;
    }
    t->fut.refs = 2; /* the caller's and the loop's, dropped when the task has ended */
    t->fn = fn;
    t->arg = arg;
    t->stack_size = ss == loop->default_stack ? 0 : (uint32_t)ss;
    t->id = ++loop->tasks.next_id;
    t->ri.kind = RK_TASK;
    loop->tasks.n++;
    loop_push_ready(loop, &t->ri);
    return &t->fut;
}

tt_future *tt_spawn(tt_fn fn, void *arg) { return tt_spawn_on(NULL, NULL, fn, arg); }

intptr_t tt_await(tt_future *f)
{
    tt_task *t = task_current();
    if (!f)
        return -EINVAL;
    if (f->loop != tls_loop) /* another loop's: not ours to touch, not even its count */
        return t ? -EINVAL : -EPERM;
    if (!t) {
        tt_unref(f);
        return -EPERM;
    }
    if (f == &t->fut) {
        tt_unref(f);
        return -EINVAL;
    }
    if (f->state != FS_DONE) {
        t->wait_kind = WAIT_FUTURE;
        t->waiting_on = f;
        t->state = TS_WAITING;
        t->ri.next = NULL;
        *f->cb_tailp = &t->ri;
        f->cb_tailp = &t->ri.next;
        if (t->must_cancel) {
            /* A request made while running is delivered by cancelling what we now wait on. */
            int took = future_cancel(f, t->req_msg) == 1;
            if (took && job_runs_on(f))
                t->cancel_soft = 1; /* forwarded to a job: answered by its value */
            else if (took)
                t->must_cancel = t->cancel_soft = 0;
        }
        task_suspend(t);
        t->wait_kind = WAIT_NONE;
        t->waiting_on = NULL;
        /* A job that ran to its end hands back its value even to a cancelled awaiter, so a side
         * effect that happened is never reported as a failure; the request stays pending. */
        if (t->must_cancel && !job_value_wins(f)) {
            t->must_cancel = t->cancel_soft = 0;
            tt_unref(f);
            return -ECANCELED;
        }
    }
    intptr_t r = f->result;
    f->retrieved = 1;
    tt_unref(f);
    return r;
}

int tt_yield(void)
{
    tt_task *t = task_current();
    if (!t)
        return -EPERM;
    task_wake(t);
    suspend(t);
    return task_take_cancel(t);
}

typedef struct sleeper {
    tt_timer timer;
    tt_task *task;
} sleeper;

static void sleep_fire(tt_timer *tm) { task_wake(TT_CONTAINER_OF(tm, sleeper, timer)->task); }

int tt_sleep(int64_t ns)
{
    tt_task *t = task_current();
    if (!t)
        return -EPERM;
    if (ns <= 0 || t->must_cancel)
        return tt_yield();
    sleeper s = {.timer = {.fire = sleep_fire}, .task = t};
    int rc = timer_arm_in(t->fut.loop, &s.timer, ns);
    if (rc < 0)
        return rc;
    t->sleep_timer = &s.timer;
    t->wait_kind = WAIT_SLEEP;
    t->state = TS_WAITING;
    task_suspend(t);
    t->wait_kind = WAIT_NONE;
    t->sleep_timer = NULL;
    return task_take_cancel(t);
}

tt_future *tt_current_task(void)
{
    tt_task *t = task_current();
    return t ? &t->fut : NULL;
}

int tt_cancelling(const tt_future *task)
{
    if (!future_is_task(task))
        return -EINVAL;
    return ((const tt_task *)task)->cancel_requests;
}

int tt_uncancel(tt_future *task)
{
    if (!future_is_task(task))
        return -EINVAL;
    tt_task *t = task_of(task);
    if (t->cancel_requests > 0 && --t->cancel_requests == 0) {
        free(t->req_msg);
        t->req_msg = NULL;
    }
    return t->cancel_requests;
}

const char *tt_task_name(const tt_future *task)
{
    if (!future_is_task(task))
        return NULL;
    tt_task *t = (tt_task *)task;
    if (!t->name) {
        char buf[32];
        snprintf(buf, sizeof buf, "task-%llu", (unsigned long long)t->id);
        t->name = strdup(buf);
        if (!t->name)
            return "task";
    }
    return t->name;
}

static void task_describe_wait(const tt_task *t, char *buf, size_t n)
{
    switch (t->state) {
    case TS_NEW:
        snprintf(buf, n, "not started");
        return;
    case TS_READY:
        snprintf(buf, n, "ready");
        return;
    case TS_RUNNING:
        snprintf(buf, n, "running");
        return;
    case TS_DONE:
        snprintf(buf, n, "done");
        return;
    default:
        break;
    }
    switch (t->wait_kind) {
    case WAIT_FUTURE: {
        const tt_future *w = t->waiting_on;
        if (future_is_task(w))
            snprintf(buf, n, "awaiting task '%s'", tt_task_name(w));
        else
            snprintf(buf, n, "awaiting %s %p", w ? w->ops->what : "?", (const void *)w);
        return;
    }
    case WAIT_SLEEP:
        snprintf(buf, n, "sleeping, %.3f ms left",
                 (double)(t->sleep_timer->deadline - clock_now()) / 1e6);
        return;
    case WAIT_OTHER:
        t->waiter->describe(t->waiter, buf, n);
        return;
    default:
        snprintf(buf, n, "waiting");
    }
}

/* ------------------------------------------------------------------ listings */

static void warn_alive(tt_task *t, void *loop)
{
    char wait[128];
    task_describe_wait(t, wait, sizeof wait);
    debug_warn(loop, "  alive: task '%s' (%s)", tt_task_name(&t->fut), wait);
}

void task_report_alive(tt_loop *loop)
{
    debug_warn(loop, "tt_loop_free with %zu task(s) alive; the loop is kept", loop->tasks.n);
    task_for_each(loop, warn_alive, loop);
}

static void dump_one(tt_task *t, void *out)
{
    char wait[128];
    task_describe_wait(t, wait, sizeof wait);
    fprintf(out, "  task %llu '%s': %s, cancelling=%d%s\n", (unsigned long long)t->id,
            tt_task_name(&t->fut), wait, t->cancel_requests,
            t == t->fut.loop->current ? " (current)" : "");
}

int tt_loop_dump(tt_loop *loop, FILE *out)
{
    if (!out)
        return -EINVAL;
    if (!(loop = loop_here(loop)))
        return -EPERM;
    fprintf(out, "loop %p: %zu task(s), %zu timer(s), %ld job(s) in flight\n", (void *)loop,
            loop->tasks.n, loop->timers.armed, loop->off.jobs_inflight);
    task_for_each(loop, dump_one, out);
    return 0;
}
