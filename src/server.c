/* The serve helper (asyncio.start_server): an accept loop in a task of its own and one handler
 * task per connection, tracked by the server so that closing it can stop accepting, wait a
 * grace period, cancel the rest and wait for them. Built on tt_accept and tt_spawn only. */
#include "internal.h"

#include <poll.h>
#include <unistd.h>

#define ACCEPT_PAUSE TT_MS(100) /* out of fds or memory: let handlers release some */

typedef struct conn {
    struct conn *prev, *next;
    tt_server *srv;
    tt_future *task; /* our reference, dropped when the task has ended */
    int fd;
} conn;

struct tt_server {
    tt_loop *loop;
    int listen_fd;
    tt_conn_fn handler;
    void *arg;
    tt_future *acceptor;
    conn *conns;      /* handlers not yet ended */
    size_t nconns;
    tt_event *idle;   /* set while nconns == 0 */
    intptr_t accept_err;
};

static intptr_t conn_main(void *arg)
{
    conn *c = arg;
    c->srv->handler(c->fd, c->srv->arg);
    return 0; /* a connection's failure is its own: it must not look like the server's */
}

/* Runs once the handler task has ended, also when it was cancelled before it started. */
static void conn_ended(tt_future *f, void *arg)
{
    (void)f;
    conn *c = arg;
    tt_server *s = c->srv;
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (--s->nconns == 0)
        tt_event_set(s->idle);
    tt_unref(c->task);
    free(c);
}

static void conn_start(tt_server *s, int fd)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->task = tt_spawn(conn_main, c);
    if (!c->task) {
        close(fd);
        free(c);
        return;
    }
    if (tt_on_done(c->task, conn_ended, c) < 0) {
        tt_cancel(c->task, NULL); /* not started yet: it never runs */
        tt_unref(c->task);
        close(fd);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (s->nconns++ == 0)
        tt_event_clear(s->idle);
}

static intptr_t accept_loop(void *arg)
{
    tt_server *s = arg;
    for (;;) {
        intptr_t fd = tt_accept(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_start(s, (int)fd);
            continue;
        }
        intptr_t r = 0;
        switch (fd) {
        case -ECANCELED:
            return 0;
        case -ECONNABORTED:
        case -EINTR:
            break;
        case -EAGAIN: /* a listener in non-blocking mode */
            r = tt_poll(s->listen_fd, POLLIN);
            break;
        case -EMFILE:
        case -ENFILE:
        case -ENOBUFS:
        case -ENOMEM:
            r = tt_sleep(ACCEPT_PAUSE);
            break;
        default:
            s->accept_err = fd;
            return fd;
        }
        if (r == -ECANCELED)
            return 0;
    }
}

tt_server *tt_server_start(int listen_fd, tt_conn_fn handler, void *arg)
{
    if (listen_fd < 0 || !handler) {
        errno = EINVAL;
        return NULL;
    }
    if (!task_current()) {
        errno = EPERM;
        return NULL;
    }
    tt_server *s = calloc(1, sizeof *s);
    if (!s || !(s->idle = tt_event_new())) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    s->loop = tt_loop_current();
    s->listen_fd = listen_fd;
    s->handler = handler;
    s->arg = arg;
    tt_event_set(s->idle);
    tt_task_opts o = {.name = "tt-server-accept"};
    s->acceptor = tt_spawn_on(s->loop, &o, accept_loop, s);
    if (!s->acceptor) {
        int e = errno;
        tt_event_free(s->idle);
        free(s);
        errno = e;
        return NULL;
    }
    return s;
}

size_t tt_server_connections(const tt_server *s) { return s ? s->nconns : 0; }

static void cancel_handlers(tt_server *s)
{
    for (conn *c = s->conns; c; c = c->next)
        tt_cancel(c->task, NULL);
}

/* Waits until f has ended, whatever cancellations arrive; true if one of ours was consumed. */
static bool await_end(tt_future *f)
{
    bool cancelled = false;
    while (!tt_done(f))
        if (tt_await(tt_ref(f)) == -ECANCELED && !tt_done(f))
            cancelled = true;
    return cancelled;
}

int tt_server_close(tt_server *s, int64_t grace)
{
    if (!s)
        return -EINVAL;
    tt_task *me = task_current();
    if (!me || me->fut.loop != s->loop)
        return -EPERM;
    /* Waiting for every handler to end from inside one of them would never return. */
    if (&me->fut == s->acceptor)
        return -EDEADLK;
    for (conn *c = s->conns; c; c = c->next)
        if (c->task == &me->fut)
            return -EDEADLK;
    tt_cancel(s->acceptor, NULL);
    if (grace == 0)
        cancel_handlers(s); /* before they get to run, if they have not started yet */
    bool cancelled = await_end(s->acceptor);
    tt_unref(s->acceptor);
    if (!cancelled && s->nconns && grace != 0) {
        tt_timeout to;
        intptr_t r = tt_timeout_enter(&to, grace < 0 ? TT_FOREVER : grace);
        if (r == 0)
            r = tt_timeout_exit(&to, tt_event_wait(s->idle));
        cancelled = r == -ECANCELED;
    }
    cancel_handlers(s);
    while (s->nconns)
        if (tt_event_wait(s->idle) == -ECANCELED)
            cancelled = true;
    intptr_t err = s->accept_err;
    tt_event_free(s->idle);
    free(s);
    return cancelled ? -ECANCELED : (int)err;
}
