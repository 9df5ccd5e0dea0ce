/* Debug mode (TT_DEBUG=1 or tt_loop_opts.debug): warnings for slow task steps, failures nobody
 * retrieved and loops freed with tasks alive, through a settable handler; and tt_loop_dump, the
 * listing of every live task. */
#include "internal.h"

#include <stdio.h>

#define SLOW_STEP_NS TT_MS(100)

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static tt_warn_fn warn_fn;
static void *warn_arg;

void tt_set_warn_handler(tt_warn_fn fn, void *arg)
{
    pthread_mutex_lock(&warn_lock);
    warn_fn = fn;
    warn_arg = arg;
    pthread_mutex_unlock(&warn_lock);
}

void debug_warn(tt_loop *loop, const char *fmt, ...)
{
    (void)loop;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&warn_lock);
    tt_warn_fn fn = warn_fn;
    void *arg = warn_arg;
    pthread_mutex_unlock(&warn_lock);
    if (fn)
        fn(msg, arg);
    else
        fprintf(stderr, "tothread: %s\n", msg);
}

void debug_task_step_ended(tt_loop *loop, tt_task *t)
{
    int64_t now = clock_now(), began = loop->step_started_at;
    loop->step_started_at = 0; /* a step that began before debug mode was on is not timed */
    if (began && now - began > SLOW_STEP_NS)
        debug_warn(loop, "task '%s' ran %.1f ms without suspending", tt_task_name(&t->fut),
                   (double)(now - began) / 1e6);
}

void debug_future_released(tt_future *f)
{
    if (f->state != FS_DONE || f->result >= 0 || f->result == -ECANCELED || f->retrieved)
        return;
    if (future_is_task(f))
        debug_warn(f->loop, "task '%s' failed with %ld (%s) and nobody retrieved it",
                   tt_task_name(f), (long)f->result, tt_strerror(f->result));
    else
        debug_warn(f->loop, "%s failed with %ld (%s) and nobody retrieved it", f->ops->what,
                   (long)f->result, tt_strerror(f->result));
}

static void warn_alive(tt_task *t, void *loop)
{
    char wait[128];
    task_describe_wait(t, wait, sizeof wait);
    debug_warn(loop, "  alive: task '%s' (%s)", tt_task_name(&t->fut), wait);
}

void debug_loop_freed_with_tasks(tt_loop *loop)
{
    debug_warn(loop, "tt_loop_free with %zu task(s) alive; the loop is kept", loop->ntasks);
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
    if (!loop || !out)
        return -EINVAL;
    if (!loop_on_thread(loop))
        return -EPERM;
    fprintf(out, "loop %p: %zu task(s), %zu timer(s), %ld job(s) in flight\n", (void *)loop,
            loop->ntasks, loop->timers, loop->jobs_inflight);
    task_for_each(loop, dump_one, out);
    return 0;
}
