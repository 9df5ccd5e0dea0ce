/* Timeout scopes (asyncio.timeout / Trio's fail_after): a timer that cancels the task that
 * entered the scope, and an exit that tells this scope's cancellation from anyone else's by the
 * task's cancel count, as asyncio 3.12's Timeout.__aexit__ does; an outside request still
 * undelivered when the deadline fires wins over the timeout. */
#include "internal.h"

#include <assert.h>
#ifdef TT_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
/* scope_is_armed reads a fresh scope's stack garbage on purpose (it is all overwritten next). */
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MARK_DEFINED(p, n) ((void)(p), (void)(n))
#endif

enum { TO_UNUSED = 0, TO_ENTERED, TO_EXPIRING, TO_EXPIRED, TO_EXITED };

/* The private layout of tt_timeout. The magic tells an entered scope from stack garbage. */
typedef struct timeout_priv {
    tt_timer timer;
    tt_task *task;
    int64_t when;            /* absolute deadline or TT_FOREVER */
    int cancels_at_enter;    /* the task's cancel count when the scope was entered */
    int held_at_enter;       /* the task's requests held back by shields at enter */
    uint32_t magic;
    uint16_t shield_depth;   /* the task's shield depth at enter: those shields do not stop us */
    uint8_t state : 3;
    uint8_t pending_at_enter : 1; /* a cancel request of someone else was undelivered at enter */
    uint8_t pending_at_fire : 1;  /* ... or when the deadline fired: the delivery that follows
                                     is that request's, so the outside cancellation wins */
} timeout_priv;

#define TIMEOUT_MAGIC 0x74746f75u /* "ttou" */

static_assert(sizeof(timeout_priv) <= sizeof(tt_timeout), "timeout_priv must fit in tt_timeout");
static_assert(_Alignof(timeout_priv) <= _Alignof(tt_timeout), "tt_timeout is under-aligned");

static timeout_priv *priv(const tt_timeout *t)
{
    timeout_priv *p = (timeout_priv *)(uintptr_t)t;
    return p && p->magic == TIMEOUT_MAGIC ? p : NULL;
}

static void timeout_fired(tt_timer *tm)
{
    timeout_priv *p = TT_CONTAINER_OF(tm, timeout_priv, timer);
    if (p->state != TO_ENTERED || p->task->fut.state == FS_DONE)
        return;
    p->state = TO_EXPIRING;
    p->pending_at_fire = p->task->must_cancel;
    task_cancel_from_scope(p->task, p->shield_depth);
}

/* Arms (or disarms, for TT_FOREVER) the scope's timer for an absolute deadline. */
static int timeout_arm(timeout_priv *p, int64_t when)
{
    tt_loop *loop = p->task->fut.loop;
    p->when = when < 0 ? TT_FOREVER : when;
    if (p->when == TT_FOREVER) {
        if (timer_armed(&p->timer))
            timer_disarm(loop, &p->timer);
        return 0;
    }
    return timer_arm(loop, &p->timer, p->when);
}

/* Whether p is an entered scope of task me whose timer is armed: entering it again would
 * re-initialise a live timer entry. Stack garbage can match the magic and the task, but not the
 * heap or run-queue slot pointing back at it. */
static bool scope_is_armed(const timeout_priv *p, const tt_task *me)
{
    return p->magic == TIMEOUT_MAGIC && p->task == me && p->state == TO_ENTERED &&
           timer_is_armed_on(me->fut.loop, &p->timer);
}

int tt_timeout_enter_at(tt_timeout *t, int64_t deadline)
{
    if (!t)
        return -EINVAL;
    tt_task *me = task_current();
    if (!me)
        return -EPERM;
    timeout_priv *p = (timeout_priv *)t;
    MARK_DEFINED(t, sizeof *t);
    if (scope_is_armed(p, me))
        return -EBUSY;
    memset(t, 0, sizeof *t);
    p->timer.fire = timeout_fired;
    p->task = me;
    p->cancels_at_enter = me->cancel_requests;
    p->held_at_enter = me->ri.held_requests;
    p->shield_depth = me->ri.shield_depth;
    p->pending_at_enter = me->must_cancel;
    p->state = TO_ENTERED;
    int rc = timeout_arm(p, deadline);
    if (rc < 0) {
        memset(t, 0, sizeof *t);
        return rc;
    }
    p->magic = TIMEOUT_MAGIC;
    return 0;
}

int tt_timeout_enter(tt_timeout *t, int64_t delay)
{
    return tt_timeout_enter_at(t, delay < 0 ? TT_FOREVER : deadline_after(delay));
}

int tt_timeout_reschedule(tt_timeout *t, int64_t delay)
{
    timeout_priv *p = priv(t);
    if (!p)
        return -EINVAL;
    if (p->state != TO_ENTERED || !loop_on_thread(p->task->fut.loop))
        return -EPERM;
    return timeout_arm(p, delay < 0 ? TT_FOREVER : deadline_after(delay));
}

int tt_timeout_when(const tt_timeout *t, int64_t *deadline)
{
    timeout_priv *p = priv(t);
    if (!p || !deadline)
        return -EINVAL;
    *deadline = p->when;
    return 0;
}

int tt_timeout_expired(const tt_timeout *t)
{
    timeout_priv *p = priv(t);
    if (!p)
        return -EINVAL;
    return p->state == TO_EXPIRING || p->state == TO_EXPIRED;
}

intptr_t tt_timeout_exit(tt_timeout *t, intptr_t rc)
{
    timeout_priv *p = priv(t);
    if (!p)
        return -EINVAL;
    if (p->state != TO_ENTERED && p->state != TO_EXPIRING)
        return -EPERM;
    tt_task *me = p->task;
    if (task_current() != me)
        return -EPERM;
    if (timer_armed(&p->timer))
        timer_disarm(me->fut.loop, &p->timer);
    if (p->state == TO_ENTERED) {
        p->state = TO_EXITED;
        return rc;
    }
    p->state = TO_EXPIRED;
    /* Requests a shield inside this scope holds back are not delivered here: they do not
     * count against this scope's own. */
    int left = tt_uncancel(&me->fut) - (me->ri.held_requests - p->held_at_enter);
    if (left <= p->cancels_at_enter) {
        /* Ours was the only new request; if the block never suspended again it was never
         * delivered, and must not surprise the code after the scope. */
        if (me->must_cancel && !p->pending_at_enter)
            task_withdraw_cancel(me);
        if (rc == -ECANCELED && !p->pending_at_fire)
            return -ETIMEDOUT;
    }
    return rc;
}
