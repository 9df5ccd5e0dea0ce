/* tothread-glib: a GSource driving a tothread loop (see tothread-glib.h). prepare turns the
 * loop's next deadline into GLib's poll timeout, the loop's fd is polled by GLib, and dispatch
 * runs one non-blocking iteration. */
#include "tothread-glib.h"

#include <errno.h>

typedef struct tt_glib_source {
    GSource base;
    tt_loop *loop;
    gpointer fd_tag;
} tt_glib_source;

/* Is there work now: callbacks ready (deadline 0) or a timer due? Sets *timeout_ms for
 * GLib's poll otherwise (-1: only the fd can wake us). */
static gboolean loop_due(tt_glib_source *s, gint *timeout_ms)
{
    int64_t deadline;
    int rc = tt_loop_next_deadline(s->loop, &deadline);
    *timeout_ms = -1;
    if (rc < 0) { /* not the loop's thread: a misuse only the fd can outlast */
        g_warning("tothread-glib: tt_loop_next_deadline: %s", tt_strerror(rc));
        return FALSE;
    }
    if (deadline == 0)
        return TRUE;
    if (deadline < 0) /* TT_FOREVER */
        return FALSE;
    int64_t left = deadline - tt_now();
    if (left <= 0)
        return TRUE;
    /* round up: waking a little late costs one wake-up; early would spin until the deadline */
    int64_t ms = (left + TT_MS(1) - 1) / TT_MS(1);
    *timeout_ms = ms > G_MAXINT ? G_MAXINT : (gint)ms;
    return FALSE;
}

static gboolean source_prepare(GSource *base, gint *timeout_ms)
{
    return loop_due((tt_glib_source *)base, timeout_ms);
}

static gboolean source_check(GSource *base)
{
    tt_glib_source *s = (tt_glib_source *)base;
    gint unused;
    if (g_source_query_unix_fd(base, s->fd_tag) & G_IO_IN)
        return TRUE;
    return loop_due(s, &unused);
}

static gboolean source_dispatch(GSource *base, GSourceFunc cb, gpointer data)
{
    (void)cb;
    (void)data;
    tt_glib_source *s = (tt_glib_source *)base;
    int rc = tt_loop_run_once(s->loop, 0);
    if (rc < 0)
        g_warning("tothread-glib: tt_loop_run_once: %s", tt_strerror(rc));
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
};

GSource *tt_glib_source_new(tt_loop *loop)
{
    int fd = loop != NULL ? tt_loop_fd(loop) : -EINVAL;
    if (fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    GSource *base = g_source_new(&source_funcs, sizeof(tt_glib_source));
    tt_glib_source *s = (tt_glib_source *)base;
    s->loop = loop;
    s->fd_tag = g_source_add_unix_fd(base, fd, G_IO_IN);
    g_source_set_name(base, "tothread");
    return base;
}
