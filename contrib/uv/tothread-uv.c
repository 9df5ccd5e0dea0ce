/* tothread-uv: a tothread loop driven from a libuv loop (see tothread-uv.h). Every wake-up —
 * the fd readable or the timer due — runs one non-blocking iteration; the prepare handle sets
 * the timer to the loop's next deadline before libuv blocks. */
#include "tothread-uv.h"

#include <errno.h>
#include <stdlib.h>

struct tt_uv_source {
    uv_poll_t poll;
    uv_timer_t timer;
    uv_prepare_t prepare;
    tt_loop *loop;
    int open_handles; /* freed when the last close callback has run */
};

/* Sets the timer to the loop's next deadline: 0 ms when callbacks are ready, none when only
 * the fd can bring work. */
static void on_timer(uv_timer_t *h);

static void rearm(tt_uv_source *s)
{
    int64_t deadline;
    int rc = tt_loop_next_deadline(s->loop, &deadline);
    if (rc < 0)
        fprintf(stderr, "tothread-uv: tt_loop_next_deadline: %s\n", tt_strerror(rc));
    if (rc < 0 || deadline < 0) { /* TT_FOREVER (or a misuse: only the fd wakes us) */
        uv_timer_stop(&s->timer);
        return;
    }
    int64_t left = deadline == 0 ? 0 : deadline - tt_now();
    uint64_t ms = left <= 0 ? 0 : (uint64_t)((left + TT_MS(1) - 1) / TT_MS(1));
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void run_iteration(tt_uv_source *s)
{
    int rc = tt_loop_run_once(s->loop, 0);
    if (rc < 0)
        fprintf(stderr, "tothread-uv: tt_loop_run_once: %s\n", tt_strerror(rc));
    rearm(s);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    run_iteration(h->data);
}

static void on_timer(uv_timer_t *h)
{
    run_iteration(h->data);
}

static void on_prepare(uv_prepare_t *h)
{
    rearm(h->data);
}

static void on_closed(uv_handle_t *h)
{
    tt_uv_source *s = h->data;
    if (--s->open_handles == 0)
        free(s);
}

tt_uv_source *tt_uv_source_new(uv_loop_t *uv, tt_loop *loop)
{
    int fd = loop != NULL ? tt_loop_fd(loop) : -EINVAL;
    if (uv == NULL || fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    tt_uv_source *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loop = loop;
    int rc = uv_poll_init(uv, &s->poll, fd);
    if (rc < 0) {
        free(s);
        errno = -rc;
        return NULL;
    }
    /* timer and prepare initialisation cannot fail once the loop exists */
    uv_timer_init(uv, &s->timer);
    uv_prepare_init(uv, &s->prepare);
    s->poll.data = s->timer.data = s->prepare.data = s;
    s->open_handles = 3;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    uv_prepare_start(&s->prepare, on_prepare);
    uv_unref((uv_handle_t *)&s->prepare); /* the poll handle alone keeps uv's loop alive */
    uv_timer_start(&s->timer, on_timer, 0, 0); /* a first iteration at once */
    return s;
}

void tt_uv_source_close(tt_uv_source *s)
{
    if (s == NULL)
        return;
    uv_close((uv_handle_t *)&s->poll, on_closed);
    uv_close((uv_handle_t *)&s->timer, on_closed);
    uv_close((uv_handle_t *)&s->prepare, on_closed);
}
