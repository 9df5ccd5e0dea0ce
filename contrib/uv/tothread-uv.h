/* tothread-uv — runs a tothread loop inside a libuv loop: a uv_poll_t on tt_loop_fd, a
 * uv_timer_t for tt_loop_next_deadline, and a uv_prepare_t that re-arms the timer before libuv
 * blocks (a host callback may have given the tothread loop new work).
 *
 * Copy tothread-uv.h and tothread-uv.c into a libuv program (or link the tothread_uv library
 * this directory builds). Both loops must be run by the same thread: the one that created the
 * tothread loop.
 *
 *   tt_loop *loop = tt_loop_new(NULL);
 *   tt_uv_source *src = tt_uv_source_new(uv_default_loop(), loop);
 *   tt_spawn_on(loop, NULL, main_task, arg);
 *   uv_run(uv_default_loop(), UV_RUN_DEFAULT);   -- returns after tt_uv_source_close
 */
#ifndef TOTHREAD_UV_H
#define TOTHREAD_UV_H

#include <tothread.h>
#include <uv.h>

typedef struct tt_uv_source tt_uv_source;

/* Starts driving loop from uv. NULL + errno: EINVAL (NULL argument, a loop without a pollable
 * fd), ENOMEM, or the error libuv reported (as a positive errno). The source keeps uv's loop
 * alive until tt_uv_source_close. */
tt_uv_source *tt_uv_source_new(uv_loop_t *uv, tt_loop *loop);
/* Stops driving the loop and closes the handles; the memory goes in their close callbacks
 * (run by uv_run). Does not free the tothread loop. NULL is fine. */
void tt_uv_source_close(tt_uv_source *src);

#endif
