/* tothread — asyncio's concurrency model for C on Linux.
 *
 * One event loop per thread (io_uring, or epoll where io_uring is refused) runs cheap stackful
 * tasks; a pthread worker pool runs the blocking calls that would stall it (tt_to_thread);
 * futures carry every completion back to the loop, where gather, wait, as_completed, wait_for,
 * shield, task groups and timeout scopes compose them with asyncio's (Python 3.11) cancellation
 * semantics.
 *
 * Read this header top to bottom: it is the manual.
 *
 * VALUES. Every outcome is one intptr_t, the kernel's convention: >= 0 is success (a count, a
 * value, or a pointer cast to intptr_t); < 0 is failure: -errno or an application's own negative
 * code. -ECANCELED means cancelled, -ETIMEDOUT means a deadline passed. tt_strerror() names any
 * code. A task body and a blocking function have the same type, tt_fn.
 *
 * DURATIONS are int64_t nanoseconds (TT_MS(5), TT_SEC(1)); a negative duration means "no limit"
 * (TT_FOREVER). Deadlines are absolute tt_now() values (CLOCK_MONOTONIC ns).
 *
 * OWNERSHIP. Futures (and tasks, which are futures) are reference-counted, on the loop's thread.
 *   - A call that returns tt_future * hands you one reference.
 *   - tt_await and tt_wait_for consume your reference, even when they fail:
 *     tt_await(tt_to_thread(fn, arg)) leaks nothing.
 *   - Everything else borrows. tt_ref keeps a reference, tt_unref drops one.
 *   - A running task is also held by its loop: dropping the last user reference never kills it.
 *   - A future may still be inspected (tt_done, tt_result, tt_cancelled) and released after its
 *     loop has been freed; nothing else.
 *
 * ERRORS. A function that can fail returns a negative code and never crashes on NULL or a bad
 * argument (-EINVAL). A call made from the wrong place returns -EPERM (tt_await outside a task, a
 * loop function from a foreign thread, spawning into a joined group). Out of memory is -ENOMEM,
 * never abort(). A function returning a pointer returns NULL and sets errno instead. Setting a
 * future that is already done is -EBUSY; reading the result of a pending one is -EAGAIN
 * (asyncio's InvalidStateError).
 *
 * THREADS. Everything on a loop (futures, tasks, callbacks, sync primitives) is used only from
 * that loop's thread — the thread that created it. Other threads talk to a loop only through
 * tt_call_soon_threadsafe, tt_loop_submit and the tt_cfuture handle. Pools are thread-safe.
 *
 * SCHEDULING (as asyncio): a new task does not start inside tt_spawn; it starts, FIFO, when its
 * creator next suspends. Done-callbacks and wake-ups run from the ready queue in registration
 * order, never inline. Timers with equal deadlines fire in the order they were set.
 *
 * THE ONE DELIBERATE DIFFERENCE FROM ASYNCIO: cancelling a task that awaits a *running*
 * tt_to_thread job does not abandon the job. The job is asked to stop (tt_job_cancelled() turns
 * true, the optional unblock callback runs) and the awaiting task stays suspended until the
 * blocking function returns, so memory it passed (often on its own stack) stays valid. Trio's
 * default. TT_ABANDON_ON_CANCEL gives asyncio's behaviour per call.
 *
 * Choices asyncio's model leaves open (also in README):
 *   - A stack overflow into a task's guard page prints "tothread: stack overflow in task 'NAME'"
 *     and aborts: there is no way to continue safely.
 *   - Task switches save the callee-saved integer and vector registers but not the x87 control
 *     word or MXCSR: a task that changes rounding modes must restore them before it suspends.
 *   - tt_try_to_thread fails with EAGAIN only on a pool with a queue_limit whose queue is full.
 *   - tt_loop_fd (embedding) returns an eventfd that turns readable when the loop has work;
 *     the host then calls tt_loop_run_once(loop, 0).
 *   - Live-object counters (tt_live_get) are process-wide, for leak checks in tests and tools.
 *   - tt_loop_free never waits for running jobs: they become orphans whose results go to
 *     discard on the worker (tt_run does wait for its own default pool, as asyncio.run does).
 *   - Freeing an event, lock, semaphore or queue wakes the tasks still waiting on it: -EIDRM.
 *   - Durations saturate: a deadline beyond INT64_MAX ns means never, not a wrap-around.
 *   - Pool workers block every signal and sleep with a 1 ns timer slack.
 */
#ifndef TOTHREAD_H
#define TOTHREAD_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TT_VERSION_MAJOR 0
#define TT_VERSION_MINOR 1
#define TT_VERSION_PATCH 0

typedef intptr_t (*tt_fn)(void *arg);

#define TT_US(n)   ((int64_t)(n) * 1000)
#define TT_MS(n)   ((int64_t)(n) * 1000000)
#define TT_SEC(n)  ((int64_t)(n) * 1000000000)
#define TT_FOREVER ((int64_t)-1)

typedef struct tt_loop tt_loop;
typedef struct tt_future tt_future;
typedef struct tt_pool tt_pool;

/* ======================================================================== errors */

/* A static description of any outcome code: "Operation canceled", "Connection timed out", an
 * errno text, or "error -1001" for an application code; "success" for values >= 0. */
const char *tt_strerror(intptr_t code);

/* ========================================================================== loop */

/* BACKENDS. A loop waits on io_uring or, where io_uring is refused (Docker's default seccomp
 * profile, kernel.io_uring_disabled, gVisor, kernels without it), on epoll. Every public call
 * behaves the same on both, except where a call's comment says otherwise (see "IO on the
 * epoll backend" in the IO section). The choice, per loop at tt_loop_new:
 *   tt_loop_opts.backend TT_BACKEND_URING or TT_BACKEND_EPOLL: that one, or tt_loop_new fails
 *     (io_uring refused: NULL, errno EPERM/ENOSYS/ENOMEM, and one line on stderr naming why);
 *   TT_BACKEND_AUTO (the default): the environment variable TT_BACKEND=uring|epoll|auto decides
 *     (any other value: NULL + EINVAL and a line on stderr); unset or auto: io_uring, else epoll.
 *     In debug mode the fallback is reported once per process on the warn handler, with
 *     io_uring_setup's errno and what it usually means (EPERM: seccomp or
 *     kernel.io_uring_disabled; ENOSYS: a kernel without io_uring).
 * tt_loop_backend(loop) says which one a loop got. */
typedef enum tt_backend {
    TT_BACKEND_AUTO = 0,  /* TT_BACKEND, else io_uring falling back to epoll */
    TT_BACKEND_URING = 1, /* io_uring only */
    TT_BACKEND_EPOLL = 2, /* epoll only (a readiness loop, file IO on the pool, as libuv) */
} tt_backend;

typedef struct tt_loop_opts {
    unsigned ring_entries; /* io_uring submission queue size; 0: 256 (unused on epoll) */
    tt_pool *pool;         /* default pool for tt_to_thread; NULL: one created lazily */
    int debug;             /* debug mode (see the debug section); also TT_DEBUG=1 */
    size_t stack_size;     /* default task stack size; 0: 64 KiB */
    tt_backend backend;    /* TT_BACKEND_AUTO (0) unless set; see BACKENDS above */
} tt_loop_opts;

/* asyncio.run: a new loop on this thread, main runs as a task until it ends; then the tasks
 * still alive are cancelled and drained, the default pool is shut down (running jobs are waited
 * for) and the loop is freed. main's outcome goes to *result (may be NULL). Returns 0, or a
 * negative set-up error (-ENOMEM, -ENOSYS/-EPERM when io_uring is refused and TT_BACKEND=uring
 * asked for it, -EBUSY if this thread already has a loop, -EINVAL for a NULL main or a bad
 * TT_BACKEND). */
int tt_run(tt_fn main, void *arg, intptr_t *result);

/* A new loop bound to the calling thread (one loop per thread: NULL + EBUSY if this thread has
 * one). NULL opts: defaults. EINVAL for a bad option or TT_BACKEND value. When io_uring is
 * refused and was asked for by name (TT_BACKEND_URING, TT_BACKEND=uring) this returns NULL with
 * errno set (EPERM, ENOSYS...) and prints one line naming the cause to stderr; with AUTO the loop
 * uses epoll instead (see BACKENDS above). */
tt_loop *tt_loop_new(const tt_loop_opts *opts);
/* The loop's backend: "io_uring" or "epoll" (static strings). NULL loop: the current loop. NULL +
 * EINVAL without a loop. Any thread, while the loop lives. */
const char *tt_loop_backend(tt_loop *loop);
/* Frees the loop: -EBUSY (nothing freed) while tasks are alive, -EPERM from a foreign thread.
 * Its queued jobs are cancelled; its running jobs are asked to stop (tt_job_cancelled turns
 * true; unblock is not called) and left to finish — no thread is killed, nothing waits — and
 * their results go to discard on the worker. -EPERM from a task or a callback of the running
 * loop. Callbacks already scheduled run one last time; they cannot spawn tasks. */
int tt_loop_free(tt_loop *loop);
/* run_until_complete: runs the loop until f is done; consumes f; returns its outcome.
 * -EPERM from a task or a foreign thread, -EINVAL for NULL or a future of another loop. */
intptr_t tt_loop_run_until(tt_loop *loop, tt_future *f);
/* One loop iteration: runs what is ready, else waits up to timeout (TT_FOREVER: until
 * something happens; 0: does not wait). Returns how many callbacks and task steps ran, or a
 * negative error. For embedding tothread in another event loop. */
int tt_loop_run_once(tt_loop *loop, int64_t timeout);
/* A pollable fd (POLLIN) that turns readable when the loop has completions to process; the host
 * calls tt_loop_run_once(loop, 0) then. Owned by the loop. Timers: see tt_loop_next_deadline.
 * io_uring: an eventfd the ring signals; epoll: the loop's epoll fd itself. */
int tt_loop_fd(tt_loop *loop);
/* The earliest timer deadline (tt_now() clock) or TT_FOREVER; 0 if callbacks are ready now. */
int64_t tt_loop_next_deadline(tt_loop *loop);
/* The loop of the calling thread, or NULL. */
tt_loop *tt_loop_current(void);

/* call_soon: cb(arg) runs on the loop from the ready queue. 0 or -EINVAL/-EPERM/-ENOMEM. */
int tt_call_soon(tt_loop *loop, void (*cb)(void *), void *arg);
/* From any thread, also while the loop sleeps (wakes it). 0 or -EINVAL/-ENOMEM. */
int tt_call_soon_threadsafe(tt_loop *loop, void (*cb)(void *), void *arg);
/* call_later: a timer id (> 0), or 0 with errno set. delay < 0 counts as 0. */
uint64_t tt_call_later(tt_loop *loop, int64_t delay, void (*cb)(void *), void *arg);
/* 1 if the timer will not run, 0 if it ran, was cancelled already or is unknown; -EPERM. */
int tt_call_cancel(tt_loop *loop, uint64_t timer_id);

/* From any thread: run fn(arg) as a task on the loop and get a thread-safe handle
 * (run_coroutine_threadsafe). NULL + errno on failure. */
typedef struct tt_cfuture tt_cfuture;
tt_cfuture *tt_loop_submit(tt_loop *loop, tt_fn fn, void *arg);
/* Blocks the calling (non-loop) thread until the task ends or timeout passes: 0 with the task's
 * outcome in *result (may be NULL), -ETIMEDOUT, -EINVAL, or -EPERM on the loop's own thread. */
int tt_cfuture_wait(tt_cfuture *cf, int64_t timeout, intptr_t *result);
/* 1 if a cancel was requested (the handle completes when the task has ended), 0 if done. */
int tt_cfuture_cancel(tt_cfuture *cf);
/* Releases the handle; the task itself runs on. */
void tt_cfuture_free(tt_cfuture *cf);

/* ======================================================================= futures */

/* A pending future on loop (NULL: the current loop). NULL + errno (EINVAL, EPERM, ENOMEM). */
tt_future *tt_future_new(tt_loop *loop);
/* set_result / set_exception (a negative value is a failure; -ECANCELED cancels). 0, -EBUSY if
 * already done, -EINVAL for a task or combinator (they complete themselves), -EPERM. */
int tt_future_set(tt_future *f, intptr_t result);
/* Requests cancellation with an optional message (copied). 1 if a cancel was requested, 0 if f
 * was already done; -EINVAL, -EPERM. What a request means depends on f: a plain future ends
 * cancelled at once; a task is cancelled at its next suspension point; a job is dequeued or
 * asked to stop; a combinator cancels what it waits on. */
int tt_cancel(tt_future *f, const char *msg);
int tt_done(const tt_future *f);      /* 1/0; 0 for NULL */
int tt_cancelled(const tt_future *f); /* done with -ECANCELED */
/* The outcome: the result, the error, -ECANCELED; -EAGAIN while pending; -EINVAL for NULL.
 * Reading it marks a failure as retrieved. */
intptr_t tt_result(const tt_future *f);
/* The cancel message of a cancelled future (or a task's pending request); NULL if none. */
const char *tt_cancel_message(const tt_future *f);
/* Adds a done-callback; it runs from the ready queue (never inline), in the order added; on a
 * done future it is scheduled at once. 0, -EINVAL, -EPERM, -ENOMEM. */
int tt_on_done(tt_future *f, void (*cb)(tt_future *f, void *arg), void *arg);
/* Removes every not-yet-scheduled registration of (cb, arg); returns how many. */
int tt_remove_done(tt_future *f, void (*cb)(tt_future *f, void *arg), void *arg);
tt_future *tt_ref(tt_future *f);       /* returns f */
void tt_unref(tt_future *f);           /* NULL is fine */

/* ========================================================================= tasks */

typedef struct tt_task_opts {
    const char *name;  /* copied; shown by tt_loop_dump and in warnings; default "task-N" */
    size_t stack_size; /* 0: the loop's default; rounded up to pages; minimum 16 KiB */
} tt_task_opts;

/* create_task on the current loop: fn(arg) becomes a task, started later (FIFO). The task's
 * outcome is fn's return value; -ECANCELED, or returning while a cancel request is undelivered,
 * ends it cancelled. NULL + errno (EINVAL, EPERM without a loop, ENOMEM). */
tt_future *tt_spawn(tt_fn fn, void *arg);
tt_future *tt_spawn_on(tt_loop *loop, const tt_task_opts *o, tt_fn fn, void *arg);
/* Inside a task: suspends until f is done; consumes f; returns its outcome. If this task is
 * cancelled meanwhile, f is cancelled too; if f ends cancelled (or this task's cancel request
 * beat f's completion) the result is -ECANCELED. A future that is already done returns at once
 * without suspending. -EPERM outside a task, -EINVAL for NULL or a foreign loop's future. */
intptr_t tt_await(tt_future *f);
/* 0, or -ECANCELED. ns <= 0 yields one loop turn. -EPERM outside a task. */
int tt_sleep(int64_t ns);
/* sleep(0): lets every other ready task and callback run once. 0 or -ECANCELED. */
int tt_yield(void);
/* The running task (borrowed), or NULL outside a task. */
tt_future *tt_current_task(void);
/* The task's pending cancel requests (3.11 cancelling()); -EINVAL if not a task. */
int tt_cancelling(const tt_future *task);
/* Takes one request back (never below 0); returns the new count; -EINVAL if not a task. */
int tt_uncancel(tt_future *task);
/* A task's name (never NULL for a task); NULL for other futures. */
const char *tt_task_name(const tt_future *task);

/* ====================================================== offloading blocking calls */

typedef struct tt_pool_opts {
    unsigned min_threads, max_threads; /* default 0 .. 64; env TT_POOL_MAX overrides the default */
    int64_t idle_timeout;              /* idle worker retires after this; default 10 s */
    size_t queue_limit;                /* 0 unbounded; else tt_to_thread waits for room */
    size_t thread_stack_size;          /* default 8 MiB */
    const char *name;                  /* thread names "<name>-<n>"; default "tt-worker" */
} tt_pool_opts;

#define TT_ABANDON_ON_CANCEL 1u

typedef struct tt_job_opts {
    unsigned flags;                              /* TT_ABANDON_ON_CANCEL */
    void (*unblock)(void *arg);                  /* once, on the loop's thread, from the tt_cancel
                                                    of a running job: e.g. shutdown() a socket */
    void (*discard)(intptr_t result, void *arg); /* exactly once for a result nobody will read */
} tt_job_opts;

/* Runs fn(arg) on the current loop's default pool; the future completes with fn's return
 * value. Cancelling it: a queued job never runs and ends cancelled at once; a running job is
 * asked to stop and ends cancelled when fn returns (see the header's top comment).
 * NULL + errno: EPERM (no loop on this thread), EINVAL, ENOMEM, EAGAIN (no thread could start),
 * ESHUTDOWN (pool shut down). Inside a task, waits for room when the pool's queue is full. */
tt_future *tt_to_thread(tt_fn fn, void *arg);
/* The same on a chosen pool (NULL: the loop's default) with options (may be NULL). */
tt_future *tt_to_thread_on(tt_pool *pool, const tt_job_opts *o, tt_fn fn, void *arg);
/* Never waits: NULL + EAGAIN when the pool's bounded queue is full. */
tt_future *tt_try_to_thread(tt_pool *pool, tt_fn fn, void *arg);
/* Inside a blocking function: 1 once the awaiting side has given up (cooperative stop). */
int tt_job_cancelled(void);

/* A pool shareable by any number of loops. NULL + errno (EINVAL for min > max, ENOMEM). */
tt_pool *tt_pool_new(const tt_pool_opts *opts);
#define TT_POOL_CANCEL_QUEUED 1u
/* From any thread, repeatable: refuses new jobs (ESHUTDOWN); with TT_POOL_CANCEL_QUEUED cancels
 * queued jobs; waits up to timeout for running ones: 0, or -ETIMEDOUT if some still run (they
 * finish later and are delivered as usual; no thread is killed). */
int tt_pool_shutdown(tt_pool *pool, int64_t timeout, unsigned flags);
/* Shuts down (waiting for running jobs) and frees. -EBUSY if a loop still uses it as default. */
int tt_pool_free(tt_pool *pool);
typedef struct tt_pool_stats {
    unsigned threads, idle, running;
    size_t queued, completed, cancelled;
} tt_pool_stats;
int tt_pool_stats_get(tt_pool *pool, tt_pool_stats *out);

/* ===================================================================== combinators */

#define TT_RETURN_ERRORS 1u /* gather: return_exceptions=True */

/* Inside a task: waits for all fs; results[i] (may be NULL) gets each outcome in input order.
 * Returns 0, or the first failure at once (a cancelled child counts as -ECANCELED; the other
 * children keep running). With TT_RETURN_ERRORS: waits for all, errors as values, returns 0.
 * Cancelling the awaiting task cancels the children and returns -ECANCELED. Borrows fs. */
int tt_gather(tt_future *const *fs, size_t n, intptr_t *results, unsigned flags);
/* The same as a future (gather of gathers): succeeds with 0 (read the children's results),
 * fails with the first failure, ends -ECANCELED when cancelled (cancel reaches the children
 * with its message; it ends only after they have). NULL + errno. */
tt_future *tt_gather_future(tt_future *const *fs, size_t n, unsigned flags);

typedef enum { TT_ALL_COMPLETED, TT_FIRST_COMPLETED, TT_FIRST_EXCEPTION } tt_when;
/* Inside a task: waits as asyncio.wait does; returns how many entries of fs are done (duplicates
 * count each time; tt_done(fs[i]) tells which). A timeout is not an error. Cancelling the waiter
 * does not cancel fs. -ECANCELED, -EINVAL (n == 0, NULL), -EPERM. */
ssize_t tt_wait(tt_future *const *fs, size_t n, tt_when when, int64_t timeout);

typedef struct tt_as_completed tt_as_completed;
/* An iterator over fs in completion order; timeout is for the whole iteration (TT_FOREVER). */
tt_as_completed *tt_as_completed_new(tt_future *const *fs, size_t n, int64_t timeout);
/* Inside a task: the next future to finish (borrowed, one of fs); NULL at the end (*err = 0), on
 * timeout (*err = -ETIMEDOUT, and for every later call), when cancelled (*err = -ECANCELED);
 * err may be NULL; a NULL iterator gives NULL with -EINVAL. */
tt_future *tt_as_completed_next(tt_as_completed *it, intptr_t *err);
void tt_as_completed_free(tt_as_completed *it);

/* Inside a task: awaits f for at most timeout (0: polls; TT_FOREVER: no limit); consumes f. On
 * timeout cancels f, waits until it has ended, returns -ETIMEDOUT if it ended cancelled, else
 * its own outcome. A cancelled caller cancels f too (once: a second cancel is not forwarded to a
 * stubborn f); if f had already finished, its result is returned so nothing it owns is lost,
 * and the caller's cancellation stays pending for its next suspension point (never swallowed).
 * As in asyncio 3.11 (scenario C048), a caller cancelled while f winds down returns at once with
 * f still running: if f uses memory on the caller's stack, keep a reference and await f's end
 * before returning (while (!tt_done(f)) tt_await(tt_ref(f));). */
intptr_t tt_wait_for(tt_future *f, int64_t timeout);
/* A new future that mirrors f; cancelling it leaves f running; f cancelled -> it is cancelled.
 * Borrows f. NULL + errno. */
tt_future *tt_shield(tt_future *f);

/* ========================================================== structured concurrency */

typedef struct tt_group tt_group;
/* A task group (asyncio.TaskGroup) owned by the current task. NULL + errno (EPERM outside). */
tt_group *tt_group_new(void);
/* Spawns fn(arg) as a child (borrowed handle, valid until tt_group_free). NULL + EPERM once
 * join has returned or after the group was aborted; EINVAL; ENOMEM. */
tt_future *tt_group_spawn(tt_group *g, tt_fn fn, void *arg);
/* Cancels every child without it being a failure. 0, -EINVAL, -EPERM. */
int tt_group_cancel(tt_group *g);
/* Waits for every child: 0, the first failure, or -ECANCELED (the owner was cancelled from
 * outside and no child failed). Always takes back the owner's cancellation that the group caused
 * (3.12's fix). -EPERM for a second join or from a task other than the owner. */
int tt_group_join(tt_group *g);
/* The failed children in completion order (borrowed): fills up to max, returns the total. */
size_t tt_group_errors(tt_group *g, tt_future **failed, size_t max);
/* Frees the group (cancels and detaches children still running if join was never called). */
void tt_group_free(tt_group *g);

/* asyncio.timeout / Trio's fail_after, kept on the caller's stack; its fields are private. */
typedef struct tt_timeout { uint64_t private_[8]; } tt_timeout;
int64_t tt_now(void); /* CLOCK_MONOTONIC in ns */
/* Inside a task. 0, -EPERM outside a task, -EINVAL. delay TT_FOREVER: no deadline yet. */
int tt_timeout_enter(tt_timeout *t, int64_t delay);
int tt_timeout_enter_at(tt_timeout *t, int64_t deadline);
int tt_timeout_reschedule(tt_timeout *t, int64_t delay); /* -EPERM after exit or expiry */
int64_t tt_timeout_when(const tt_timeout *t);           /* the deadline, or TT_FOREVER */
/* Closes the scope with the block's outcome rc: -ETIMEDOUT if this scope's deadline fired and
 * rc is -ECANCELED caused by it; otherwise rc. Every enter needs its exit before the task ends:
 * the scope's timer lives in the struct on the caller's stack. */
intptr_t tt_timeout_exit(tt_timeout *t, intptr_t rc);
int tt_timeout_expired(const tt_timeout *t);

/* ============================================================ IO on the ring (tasks) */

/* Inside a task: each returns what the kernel returned (cqe->res; on epoll the system call's
 * result, the same values): a count, an fd, 0, -errno.
 * Cancelling the task cancels the request and returns only when the kernel has let go of the
 * buffer (-ECANCELED, or the result if the request completed first; the cancellation is then
 * delivered at the next suspension point). -EPERM outside a task. off -1: current position. */
intptr_t tt_read(int fd, void *buf, size_t n, int64_t off);
intptr_t tt_write(int fd, const void *buf, size_t n, int64_t off);
intptr_t tt_recv(int fd, void *buf, size_t n, int flags);
intptr_t tt_send(int fd, const void *buf, size_t n, int flags);
intptr_t tt_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags);
intptr_t tt_connect(int fd, const struct sockaddr *addr, socklen_t len);
intptr_t tt_openat(int dfd, const char *path, int flags, mode_t mode);
intptr_t tt_close(int fd);
intptr_t tt_fsync(int fd, unsigned flags);
intptr_t tt_poll(int fd, unsigned events); /* the ready events (POLLIN...) */

/* IO on the epoll backend (see BACKENDS in the loop section). The calls above return the same
 * outcomes on both backends; what differs is how, and these points:
 *   - Sockets, pipes, ttys, eventfd, signalfd... wait for readiness, then make the call without
 *     blocking; the fd's own mode is left alone (blocking fds are fine): recv/send add
 *     MSG_DONTWAIT, read/write on pipes use RWF_NOWAIT, and ttys (and any file refusing
 *     RWF_NOWAIT), accept and connect run with O_NONBLOCK set on the file description for that
 *     one call only (another process sharing the description could see it set meanwhile, so
 *     a listening socket that loops on several threads accept on should be made nonblocking,
 *     SOCK_NONBLOCK, by its creator). A cancelled wait made no call, so it consumed and sent
 *     nothing.
 *   - Transfers may be short, as on the ring for sockets and pipes: read, write, recv and send
 *     return as soon as some bytes moved (loop on the count); MSG_WAITALL waits for all n, and a
 *     cancel or error after some bytes returns their count (the cancel stays pending).
 *   - Regular files, block devices and directories (read, write, fsync, close), and openat, run
 *     on the loop's default pool (tt_loop_opts.pool), as in libuv: they share its threads and
 *     queue (a small max_threads or queue_limit throttles them, a shut-down pool refuses them
 *     with -ESHUTDOWN) and count in its statistics. A cancelled call that has not started never
 *     runs (-ECANCELED); one that runs cannot be interrupted: the task waits for it and gets its
 *     result, and its cancellation comes at the next suspension point.
 *   - A wait costs one epoll_ctl: registrations are one-shot, so an fd closed and reused behind
 *     the library's back is never missed. A transfer that moved less than asked makes the next
 *     one on that fd wait for readiness before trying. A call that completes at once still lets
 *     the loop take a turn before the task goes on, as a ring completion does. */

/* =========================================================== sync between tasks */
/* asyncio's Event, Lock, Semaphore and Queue, for tasks of one loop. Waiting calls suspend
 * the task and return 0 or -ECANCELED (-EPERM outside a task); waiters are served FIFO.
 * A cancelled get loses no item; a cancelled put adds none. Constructors: NULL + errno.
 * Freeing a primitive wakes tasks still waiting on it with -EIDRM. */

typedef struct tt_event tt_event;
tt_event *tt_event_new(void);
int tt_event_set(tt_event *e);          /* wakes every waiter */
int tt_event_clear(tt_event *e);
int tt_event_is_set(const tt_event *e);
int tt_event_wait(tt_event *e);         /* returns at once if set */
void tt_event_free(tt_event *e);        /* waiters must be gone */

typedef struct tt_lock tt_lock;
tt_lock *tt_lock_new(void);
int tt_lock_acquire(tt_lock *l);
int tt_lock_release(tt_lock *l);        /* -EPERM if not locked */
int tt_lock_locked(const tt_lock *l);
void tt_lock_free(tt_lock *l);

typedef struct tt_semaphore tt_semaphore;
tt_semaphore *tt_semaphore_new(unsigned value);
int tt_semaphore_acquire(tt_semaphore *s);
int tt_semaphore_release(tt_semaphore *s);
int tt_semaphore_value(const tt_semaphore *s);
void tt_semaphore_free(tt_semaphore *s);

typedef struct tt_queue tt_queue; /* FIFO of void *; maxsize 0 = unbounded */
tt_queue *tt_queue_new(size_t maxsize);
int tt_queue_put(tt_queue *q, void *item);      /* waits while full */
int tt_queue_get(tt_queue *q, void **item);     /* waits while empty */
int tt_queue_try_put(tt_queue *q, void *item);  /* -EAGAIN when full */
int tt_queue_try_get(tt_queue *q, void **item); /* -EAGAIN when empty */
size_t tt_queue_size(const tt_queue *q);
void tt_queue_free(tt_queue *q);

/* ================================================================ debug and counters */

/* Debug mode (TT_DEBUG=1 or tt_loop_opts.debug) warns when a task runs longer than 100 ms
 * without suspending, when a failed future is released with its error never retrieved, and
 * when a loop is freed with tasks alive. Warnings go to the handler (default: stderr). */
typedef void (*tt_warn_fn)(const char *msg, void *arg);
void tt_set_warn_handler(tt_warn_fn fn, void *arg); /* NULL fn: back to stderr */
/* Lists every live task of loop: name, state, what it waits on. 0, -EINVAL, -EPERM. */
int tt_loop_dump(tt_loop *loop, FILE *out);

/* Live objects in the whole process; all zero once everything is released and freed. */
typedef struct tt_live {
    long futures; /* futures of every kind, tasks and jobs included */
    long tasks;
    long stacks;  /* task stacks mapped (in use or pooled) */
    long jobs;    /* blocking jobs submitted and not yet delivered */
    long loops;
    long pools;
} tt_live;
void tt_live_get(tt_live *out);

#ifdef __cplusplus
}
#endif
#endif /* TOTHREAD_H */
