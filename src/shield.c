/* Shield scopes (Trio's CancelScope(shield=True)): a block of a task, kept on its stack, inside
 * which cancellation requests are counted but held back, then delivered at the scope's exit.
 * The hold itself lives in task.c's cancel path; this file opens and closes the scopes. */
#include "internal.h"

#include <assert.h>

enum { SH_ENTERED = 1, SH_EXITED };

/* The private layout of tt_shield_scope. The magic tells an entered scope from stack garbage. */
typedef struct shield_priv {
    tt_task *task;
    uint32_t magic;
    uint16_t depth; /* the task's shield depth inside this scope */
    uint8_t state;
} shield_priv;

#define SHIELD_MAGIC 0x74747368u /* "ttsh" */

static_assert(sizeof(shield_priv) <= sizeof(tt_shield_scope), "shield_priv must fit");
static_assert(_Alignof(shield_priv) <= _Alignof(tt_shield_scope), "under-aligned");

int tt_shield_enter(tt_shield_scope *s)
{
    if (!s)
        return -EINVAL;
    tt_task *me = task_current();
    if (!me)
        return -EPERM;
    if (me->ri.shield_depth == UINT16_MAX)
        return -EINVAL;
    shield_priv *p = (shield_priv *)s;
    memset(s, 0, sizeof *s);
    p->task = me;
    p->depth = ++me->ri.shield_depth;
    p->state = SH_ENTERED;
    p->magic = SHIELD_MAGIC;
    if (p->depth == 1 && me->must_cancel) {
        /* A request made before the scope and not yet delivered waits for the exit too. */
        me->must_cancel = 0;
        me->cancel_held = 1;
    }
    return 0;
}

int tt_shield_exit(tt_shield_scope *s)
{
    shield_priv *p = (shield_priv *)s;
    if (!p || p->magic != SHIELD_MAGIC)
        return -EINVAL;
    tt_task *me = task_current();
    if (p->state != SH_ENTERED || me != p->task || me->ri.shield_depth != p->depth)
        return -EPERM; /* exited already, another task's, or not the innermost scope */
    p->state = SH_EXITED;
    if (--me->ri.shield_depth == 0 && me->cancel_held) {
        me->cancel_held = 0;
        me->ri.held_requests = 0;
        if (me->cancel_requests > 0)
            me->must_cancel = 1; /* delivered at the next suspension point */
    }
    return 0;
}
