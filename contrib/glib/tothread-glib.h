/* tothread-glib — runs a tothread loop inside a GLib main loop, as a GSource.
 *
 * Copy tothread-glib.h and tothread-glib.c into a GLib program (or link the tothread_glib
 * library this directory builds). The tothread loop and the GMainContext must be driven by the
 * same thread: the one that created the tothread loop.
 *
 *   tt_loop *loop = tt_loop_new(NULL);
 *   GSource *src = tt_glib_source_new(loop);
 *   g_source_attach(src, NULL);               -- the thread's default GMainContext
 *   tt_spawn_on(loop, NULL, main_task, arg);  -- tasks run while GLib's loop runs
 *   g_main_loop_run(main_loop);
 *   g_source_destroy(src); g_source_unref(src);
 *   tt_loop_free(loop);                        -- after its tasks have ended
 */
#ifndef TOTHREAD_GLIB_H
#define TOTHREAD_GLIB_H

#include <glib.h>
#include <tothread.h>

/* A GSource that runs loop's iterations from the GMainContext it is attached to: it polls
 * tt_loop_fd, wakes for tt_loop_next_deadline and calls tt_loop_run_once(loop, 0) from its
 * dispatch. The source does not own loop; destroy the source before freeing the loop. NULL
 * (errno EINVAL) for a NULL loop or one without a pollable fd. */
GSource *tt_glib_source_new(tt_loop *loop);

#endif
