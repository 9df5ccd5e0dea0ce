/* The inbox: how other threads reach a loop. An intrusive Vyukov MPSC queue (a producer pays
 * one atomic exchange) whose nodes carry their own handler, and a wake-up written only when the
 * loop may be asleep. It knows nothing of what the messages are (jobs, room notices, thread-safe
 * calls): the loop's drain calls each node's handler. */
#include "internal.h"


void inbox_init(inbox *q)
{
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    q->stub.handle = NULL;
    q->head = &q->stub;
    atomic_store(&q->tail, &q->stub);
}

static void raw_push(inbox *q, inbox_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    inbox_node *prev = atomic_exchange_explicit(&q->tail, n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* NULL when empty, or while a producer is between its exchange and its link (the loop sees the
 * queue as non-empty then, so it comes back without sleeping). */
static inbox_node *pop(inbox *q)
{
    inbox_node *head = q->head;
    inbox_node *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &q->stub) {
        if (!next)
            return NULL;
        q->head = head = next;
        next = atomic_load_explicit(&head->next, memory_order_acquire);
    }
    if (next) {
        q->head = next;
        return head;
    }
    if (atomic_load_explicit(&q->tail, memory_order_acquire) != head)
        return NULL;
    raw_push(q, &q->stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        q->head = next;
        return head;
    }
    return NULL;
}

void inbox_push(tt_loop *loop, inbox_node *n)
{
    raw_push(&loop->wake.in, n);
    /* Pairs with the loop's store of sleeping before its last emptiness check: one of the two
     * sees the other, so a wake-up is never lost, and a busy loop costs producers no syscall. */
    if (atomic_load(&loop->wake.sleeping) && atomic_exchange(&loop->wake.sleeping, 0))
        backend_wake(loop);
}

/* ------------------------------------------------------------------------ drain */

int inbox_drain(tt_loop *loop)
{
    int n = 0;
    inbox_node *m;
    while ((m = pop(&loop->wake.in))) {
        n++;
        m->handle(loop, m);
    }
    return n;
}
