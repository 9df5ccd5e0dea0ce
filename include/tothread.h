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
 * CHANGES SINCE 0.1 (DESIGN.md, "Contract changes for 0.2"):
 *   - A running job is a task that cannot be interrupted: cancelled, it ends with what fn
 *     returns (-ECANCELED: cancelled) and its awaiting task receives that value, its own
 *     cancellation pending; discard is only for abandoned jobs and orphans.
 *   - tt_wait_for never returns while its inner still runs (3.12, scenario C048).
 *   - tt_group_spawn hands back a reference (release it); a group keeps its live and failed
 *     children only; tt_group_set_limit.
 *   - Shield scopes: tt_shield_scope, tt_shield_enter, tt_shield_exit.
 *   - tt_as_completed_next(it, &f, &index) returns 1, 0 at the end, or -errno; the index says
 *     which input finished; tt_as_completed_add grows the set while it runs.
 *   - A NULL tt_loop * is the current loop in every call (tt_loop_free excepted).
 *   - One error channel per call: tt_loop_next_deadline(loop, &deadline) and
 *     tt_timeout_when(t, &deadline) return 0 or -errno; tt_call_later returns an int64_t id > 0
 *     or -errno (tt_call_cancel takes that int64_t).
 *   - Flags carry their section's name: TT_JOB_ABANDON_ON_CANCEL, TT_GATHER_RETURN_ERRORS,
 *     TT_POOL_CANCEL_QUEUED (TT_ABANDON_ON_CANCEL and TT_RETURN_ERRORS stay as aliases in 0.2).
 *   - tt_run_with (tt_run with loop options), tt_loop_pool (the default pool); the header says
 *     which thread runs discard, and that a min_threads = max_threads = 1 pool keeps one thread.
 *   - Backends: epoll where io_uring is refused (TT_BACKEND, tt_loop_opts.backend,
 *     tt_loop_backend); every call behaves the same on both (see BACKENDS and "IO on the epoll
 *     backend" for what can only differ).
 *   - The server toolkit: signals, byte streams, getaddrinfo on the pool, listen/connect, the
 *     serve helper, subprocesses, and the ring ops readv/writev/sendmsg/recvmsg/statx/shutdown.
 *   - Observability: pool latency histograms, loop lag, stuck-call and loop watchdogs, a
 *     shutdown that reports the calls it left running, TT_JOB_INTERRUPT_ON_CANCEL.
 *   - Robustness: tt_run's teardown runs inside the loop; embedding's fd and deadline tell the
 *     whole truth after tt_loop_run_once; -EDEADLK for a pool shut down or freed from its own
 *     job; -EBUSY for a timeout scope entered twice; stack overflow guards as large as the stack.
 *   - Task scale: a loop that starts many tasks gets a thread that prepares stacks ahead (see
 *     the choices below); tt_wait_for resumes its caller in the turn after the inner completes
 *     (3.12's count) and refuses the calling task itself as its inner (-EINVAL).
 *   - ABI: the SONAME is libtothread.so.0.2 (tt_loop_opts grew; signatures above changed).
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
 *     tt_await(tt_to_thread(fn, arg)) leaks nothing. The one exception: a future of another
 *     loop is refused untouched (it belongs to another thread).
 *   - A future of another loop passed to any waiting call (tt_await, tt_wait_for, tt_wait,
 *     tt_gather, tt_as_completed_new...) is -EINVAL (-EPERM outside a task).
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
 * A NULL tt_loop * means the calling thread's loop in every call (tt_loop_free excepted);
 * with no loop on the thread, that is -EPERM (or NULL + EPERM).
 *
 * SCHEDULING (as asyncio): a new task does not start inside tt_spawn; it starts, FIFO, when its
 * creator next suspends. Done-callbacks and wake-ups run from the ready queue in registration
 * order, never inline. Timers with equal deadlines fire in the order they were set.
 *
 * THE ONE DELIBERATE DIFFERENCE FROM ASYNCIO: a running tt_to_thread job is a task that cannot
 * be interrupted. Cancelling it (or a task awaiting it) does not abandon it: it is asked to stop
 * (tt_job_cancelled() turns true, the optional unblock callback runs) and the awaiting task stays
 * suspended until the blocking function returns, so memory it passed (often on its own stack)
 * stays valid. The job's future then ends with whatever fn returned (-ECANCELED: cancelled), and
 * the awaiting task receives that value while its own cancellation stays pending for its next
 * suspension point: a side effect that happened is never reported as a failure. Trio's default
 * (abandon_on_cancel=False). TT_JOB_ABANDON_ON_CANCEL gives asyncio's behaviour per call.
 *
 * Choices asyncio's model leaves open (also in README):
 *   - A stack overflow into a task's guard (as large as the stack, up to 1 MiB), or any fault
 *     with the stack pointer below the task's stack, prints "tothread: stack overflow in task
 *     'NAME'" (task-N for an unnamed task) and aborts: there is no way to continue safely.
 *     Build task code with -fstack-clash-protection (the library is): a function with more
 *     locals than the guard then probes every page and cannot skip over the guard into a
 *     neighbouring task's stack.
 *   - A loop whose tasks have needed over a thousand stacks at once gets a thread of its own
 *     ("tt-stacks", every signal blocked) that maps up to 2048 stacks ahead and faults in
 *     their top pages (8 MiB) on another CPU while the loop starts tasks: a burst of new tasks
 *     pays fewer of the kernel's first-touch faults on the loop's thread. It ends with the loop.
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
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TT_VERSION_MAJOR 0
#define TT_VERSION_MINOR 2
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
/* tt_run with loop options (ring size, default pool, debug mode, task stack size; NULL: the
 * defaults). A pool given in opts is the application's: it is used, not shut down or freed
 * (its running jobs are left to finish, as tt_loop_free leaves them). The same returns, and
 * -EINVAL for out-of-range options. */
int tt_run_with(tt_fn main, void *arg, intptr_t *result, const tt_loop_opts *opts);

/* A new loop bound to the calling thread (one loop per thread: NULL + EBUSY if this thread has
 * one). NULL opts: defaults. EINVAL for a bad option or TT_BACKEND value. When io_uring is
 * refused and was asked for by name (TT_BACKEND_URING, TT_BACKEND=uring) this returns NULL with
 * errno set (EPERM, ENOSYS...) and prints one line naming the cause to stderr; with AUTO the loop
 * uses epoll instead (see BACKENDS above). */
tt_loop *tt_loop_new(const tt_loop_opts *opts);
/* The loop's backend: "io_uring" or "epoll" (static strings). NULL loop: the current loop; NULL +
 * EPERM if this thread has none. Any thread, while the loop lives. */
const char *tt_loop_backend(tt_loop *loop);
/* Frees the loop: -EBUSY (nothing freed) while tasks are alive, -EPERM from a foreign thread,
 * -EINVAL for NULL (the one call where NULL is not the current loop: freeing must name it).
 * Its queued jobs are cancelled; its running jobs are asked to stop (tt_job_cancelled turns
 * true; unblock is not called) and left to finish — no thread is killed, nothing waits — and
 * their results go to discard on the worker. -EPERM from a task or a callback of the running
 * loop. Callbacks already scheduled run one last time; they cannot spawn tasks. */
int tt_loop_free(tt_loop *loop);
/* run_until_complete: runs the loop until f is done; consumes f; returns its outcome.
 * -EPERM from a task or a foreign thread, -EINVAL for a NULL f or a future of another loop. */
intptr_t tt_loop_run_until(tt_loop *loop, tt_future *f);
/* One loop iteration: runs what is ready, else waits up to timeout (TT_FOREVER: until
 * something happens; 0: does not wait). Returns how many callbacks and task steps ran, or a
 * negative error. For embedding tothread in another event loop. */
int tt_loop_run_once(tt_loop *loop, int64_t timeout);
/* A pollable fd (POLLIN) that turns readable when the loop has completions to process, or work
 * the host added itself between iterations (tt_spawn, tt_call_soon...); the host calls
 * tt_loop_run_once(loop, 0) then. Owned by the loop. Timers: see tt_loop_next_deadline. After
 * tt_loop_run_once returns, the fd and tt_loop_next_deadline together tell the whole truth:
 * pending work means a readable fd or a deadline of 0. io_uring: an eventfd the ring signals;
 * epoll: the loop's epoll fd itself. */
int tt_loop_fd(tt_loop *loop);
/* Stores in *deadline when the loop must run next without its fd turning readable (tt_now()
 * clock): its earliest timer, or the check that a batch of jobs given fewer workers than jobs
 * has drained (see HOW MANY WORKERS A BATCH WAKES); TT_FOREVER if none, 0 if callbacks are ready
 * now. 0, -EINVAL (NULL deadline), -EPERM (foreign thread, no loop). */
int tt_loop_next_deadline(tt_loop *loop, int64_t *deadline);
/* The loop of the calling thread, or NULL. */
tt_loop *tt_loop_current(void);
/* The loop's default pool (what tt_to_thread uses), created now if it was not yet: read its
 * stats with tt_pool_stats_get, pass it to tt_to_thread_on. Borrowed: the loop owns it (or the
 * application does, if it came in tt_loop_opts). NULL loop: the current one. NULL + errno
 * (EPERM: foreign thread or no loop; ENOMEM; EAGAIN). */
tt_pool *tt_loop_pool(tt_loop *loop);

/* call_soon: cb(arg) runs on the loop from the ready queue. 0 or -EINVAL/-EPERM/-ENOMEM. */
int tt_call_soon(tt_loop *loop, void (*cb)(void *), void *arg);
/* From any thread, also while the loop sleeps (wakes it); NULL loop: the calling thread's own.
 * 0 or -EINVAL/-EPERM (NULL from a thread without a loop)/-ENOMEM. */
int tt_call_soon_threadsafe(tt_loop *loop, void (*cb)(void *), void *arg);
/* call_later: a timer id (> 0) or a negative error (-EINVAL, -EPERM, -ENOMEM). delay < 0
 * counts as 0. */
int64_t tt_call_later(tt_loop *loop, int64_t delay, void (*cb)(void *), void *arg);
/* 1 if the timer will not run, 0 if it ran, was cancelled already or is unknown; -EPERM. */
int tt_call_cancel(tt_loop *loop, int64_t timer_id);

/* From any thread: run fn(arg) as a task on the loop and get a thread-safe handle
 * (run_coroutine_threadsafe). NULL + errno on failure (EPERM for a NULL loop from a thread
 * without one). */
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
 * ends it cancelled — except a request that came back with a value (a job's, or tt_wait_for's
 * inner's, as in Trio and 3.12): returning that value before the next suspension keeps it.
 * NULL + errno (EINVAL, EPERM without a loop, ENOMEM). */
tt_future *tt_spawn(tt_fn fn, void *arg);
tt_future *tt_spawn_on(tt_loop *loop, const tt_task_opts *o, tt_fn fn, void *arg);
/* Inside a task: suspends until f is done; consumes f; returns its outcome. If this task is
 * cancelled meanwhile, f is cancelled too; if f ends cancelled (or this task's cancel request
 * beat f's completion) the result is -ECANCELED — except for a job (tt_to_thread): it always
 * hands back what fn returned, and this task's cancellation stays pending for its next
 * suspension point. A future that is already done returns at once without suspending.
 * -EPERM outside a task, -EINVAL for NULL or a foreign loop's future (which is left untouched,
 * not consumed). */
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
    int64_t idle_timeout;              /* an idle worker beyond min_threads retires after this;
                                          default 10 s; negative (TT_FOREVER): never */
    size_t queue_limit;                /* 0 unbounded; else tt_to_thread waits for room */
    size_t thread_stack_size;          /* default 8 MiB; above 2^47: EINVAL */
    const char *name;                  /* thread names "<name>-<n>"; default "tt-worker" */
} tt_pool_opts;

#define TT_JOB_ABANDON_ON_CANCEL 1u
#define TT_ABANDON_ON_CANCEL TT_JOB_ABANDON_ON_CANCEL /* the 0.1 name, kept for 0.2 */

typedef struct tt_job_opts {
    unsigned flags;                              /* TT_JOB_ABANDON_ON_CANCEL,
                                                    TT_JOB_INTERRUPT_ON_CANCEL */
    void (*unblock)(void *arg);                  /* once, on the loop's thread, from the tt_cancel
                                                    of a running job: e.g. shutdown() a socket */
    void (*discard)(intptr_t result, void *arg); /* exactly once for a result nobody can read:
                                                    abandoned jobs and orphans only */
} tt_job_opts;
/* WHICH THREAD RUNS discard: the loop's thread, from the loop's inbox processing, when a job
 * whose result nobody will read reaches its loop (abandoned with TT_JOB_ABANDON_ON_CANCEL);
 * the worker thread, right after fn returns, when the job's loop was freed while it ran (an
 * orphan: see tt_loop_free). Always after fn has returned, never concurrently with it. */

/* Runs fn(arg) on the current loop's default pool; the future completes with fn's return
 * value. Cancelling it: a queued job never runs and ends cancelled at once; a running job is
 * asked to stop and ends with what fn returns (see the header's top comment); with
 * TT_JOB_ABANDON_ON_CANCEL it ends cancelled at once and its result goes to discard.
 * NULL + errno: EPERM (no loop on this thread), EINVAL, ENOMEM, EAGAIN (no thread could start),
 * ESHUTDOWN (pool shut down). Inside a task, waits for room when the pool's queue is full. */
tt_future *tt_to_thread(tt_fn fn, void *arg);
/* The same on a chosen pool (NULL: the loop's default) with options (may be NULL). */
tt_future *tt_to_thread_on(tt_pool *pool, const tt_job_opts *o, tt_fn fn, void *arg);
/* Never waits: NULL + EAGAIN when the pool's bounded queue is full. */
tt_future *tt_try_to_thread(tt_pool *pool, tt_fn fn, void *arg);
/* Inside a blocking function: 1 once its job was asked to stop (cancelled, or its loop freed):
 * return early with what you have, or -ECANCELED to end the job cancelled. */
int tt_job_cancelled(void);

/* THREAD AFFINITY. The min_threads workers start with the pool and never retire until it is
 * shut down, whatever idle_timeout says. So a pool with min_threads = max_threads = 1 runs
 * every job on the same OS thread, for its whole life: the pool for a library bound to the
 * thread that opened it (an SQLite connection without serialized mode, a thread-local API).
 * With min_threads = 0 the one worker may retire when idle and a later job runs on a new one.
 *
 * HOW MANY WORKERS A BATCH WAKES. A turn's jobs reach the pool together. While nothing is known
 * about their run time (and whenever it is ~20 us or more) every job gets a worker; once the
 * pool has timed some (TT_POOL_SAMPLE), a batch of short jobs wakes only as many workers as run
 * it in about the time a wake-up takes (usually one): waking a thread per 1 us job costs more
 * than the job, and the woken threads take the CPU from the loop. A batch that is still queued
 * 0.5 ms later gets every idle worker, so a job that blocks, or waits for another job of its
 * batch, holds the rest back at most that long; the loop checks while it has jobs in flight.
 * The estimate follows the timed jobs: it at most doubles per longer one, so one preempted job
 * barely moves it, and decays slowly. */
/* A pool shareable by any number of loops. NULL + errno (EINVAL for min > max or an impossible
 * thread_stack_size, ENOMEM). */
tt_pool *tt_pool_new(const tt_pool_opts *opts);
#define TT_POOL_CANCEL_QUEUED 1u
/* From any thread, repeatable: refuses new jobs (ESHUTDOWN); with TT_POOL_CANCEL_QUEUED cancels
 * queued jobs; waits up to timeout for running ones: 0, or -ETIMEDOUT if some still run (they
 * finish later and are delivered as usual; no thread is killed). -EDEADLK (nothing done) from a
 * job running on this pool with a timeout other than 0: it would wait for itself. */
int tt_pool_shutdown(tt_pool *pool, int64_t timeout, unsigned flags);
/* Shuts down (waiting for running jobs) and frees. -EBUSY if a loop still uses it as default
 * (loops that merely submitted to it do not count: a lane pool may be freed inside a task);
 * -EDEADLK from a job running on this pool. */
int tt_pool_free(tt_pool *pool);
typedef struct tt_pool_stats {
    unsigned threads, idle, running;
    size_t queued, completed, cancelled;
} tt_pool_stats;
int tt_pool_stats_get(tt_pool *pool, tt_pool_stats *out);

/* ===================================================================== combinators */

/* Flags are named after their section: TT_JOB_*, TT_GATHER_*, TT_POOL_*. */
#define TT_GATHER_RETURN_ERRORS 1u /* gather: return_exceptions=True */
#define TT_RETURN_ERRORS TT_GATHER_RETURN_ERRORS /* the 0.1 name, kept for 0.2 */

/* Inside a task: waits for all fs; results[i] (may be NULL) gets each outcome in input order.
 * Returns 0, or the first failure at once (a cancelled child counts as -ECANCELED; the other
 * children keep running). With TT_GATHER_RETURN_ERRORS: waits for all, errors as values,
 * returns 0. Cancelling the awaiting task cancels the children and returns -ECANCELED once
 * they have ended; results[i] still gets each child's outcome (a running job's is fn's value).
 * Borrows fs. */
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
/* An iterator over fs in completion order; timeout is for the whole iteration (TT_FOREVER).
 * Each distinct future is one input (duplicates count once), indexed by its first place in fs.
 * Borrows fs (the iterator keeps its own references). NULL + errno (EINVAL, EPERM, ENOMEM). */
tt_as_completed *tt_as_completed_new(tt_future *const *fs, size_t n, int64_t timeout);
/* Adds f while the iteration runs (3.13's as_completed over an iterator; "N items, K in
 * flight": add one each time one finishes). Every call is a new input, even of a future
 * already added. Returns the input's index (n for the first add, then n + 1, ...), or -EINVAL,
 * -EPERM (foreign thread), -ETIMEDOUT (the iteration timed out), -ENOMEM. Borrows f. */
ssize_t tt_as_completed_add(tt_as_completed *it, tt_future *f);
/* Inside a task: waits for the next input to finish. Returns 1 with the future in *f (borrowed:
 * valid until the next call or tt_as_completed_free) and its index in *index (either may be
 * NULL); 0 when every input added so far has been handed out (adding more resumes it);
 * -ETIMEDOUT on timeout (and for every later call); -ECANCELED; -EBUSY if another task is
 * already waiting on it; -EINVAL; -EPERM outside a task of its loop; -ENOMEM. The one error
 * channel is the return value. */
int tt_as_completed_next(tt_as_completed *it, tt_future **f, size_t *index);
void tt_as_completed_free(tt_as_completed *it);

/* Inside a task: awaits f for at most timeout (0: polls; TT_FOREVER: no limit); consumes f. On
 * timeout cancels f, waits until it has ended, returns -ETIMEDOUT if it ended cancelled, else
 * its own outcome. A cancelled caller cancels f too and returns -ECANCELED once f has ended
 * cancelled; if f finished with a value instead (before the cancel, or by swallowing it), that
 * value is returned so nothing it owns is lost, and the caller's cancellation stays pending for
 * its next suspension point (never swallowed). It never returns while f still runs (3.12,
 * scenario C048): a caller cancelled while f winds down forwards every cancel to f and waits
 * for its end, so f may use memory on the caller's stack. The calling task itself as f is
 * -EINVAL, as with tt_await. */
intptr_t tt_wait_for(tt_future *f, int64_t timeout);
/* A new future that mirrors f; cancelling it leaves f running; f cancelled -> it is cancelled.
 * Borrows f. NULL + errno. */
tt_future *tt_shield(tt_future *f);

/* ========================================================== structured concurrency */

typedef struct tt_group tt_group;
/* A task group (asyncio.TaskGroup) owned by the current task. NULL + errno (EPERM outside). */
tt_group *tt_group_new(void);
/* Spawns fn(arg) as a child and hands you a reference to it (release it with tt_unref or
 * tt_await, like every tt_future * returned). The group holds its own reference only while the
 * child runs, and keeps failed children for tt_group_errors: a long-lived group (a server's)
 * costs memory for its live and failed children only. Under a limit (tt_group_set_limit) it
 * first waits, cancellably, for a place. NULL + errno: EPERM once join has returned or after
 * the group was aborted (also when that happens while waiting); ECANCELED (cancelled while
 * waiting); EAGAIN (a place is needed but the caller is not a task of the loop); EINVAL;
 * ENOMEM. */
tt_future *tt_group_spawn(tt_group *g, tt_fn fn, void *arg);
/* At most max_running children run at once (0: no limit, the default): tt_group_spawn then
 * waits, from the owner or any task of the loop, FIFO, until fewer run — Go's errgroup
 * SetLimit, the "N items, K in flight" pattern. Raising the limit lets waiters through at once;
 * lowering it stops no running child. 0, -EINVAL, -EPERM (foreign thread). */
int tt_group_set_limit(tt_group *g, unsigned max_running);
/* Cancels every child without it being a failure. 0, -EINVAL, -EPERM. */
int tt_group_cancel(tt_group *g);
/* Waits for every child: 0, the first failure, or -ECANCELED (the owner was cancelled from
 * outside and no child failed). Always takes back the owner's cancellation that the group caused
 * (3.12's fix). -EPERM for a second join or from a task other than the owner. */
int tt_group_join(tt_group *g);
/* The failed children in completion order (borrowed, valid until tt_group_free): fills up to
 * max, returns the total. */
size_t tt_group_errors(tt_group *g, tt_future **failed, size_t max);
/* Frees the group (cancels and detaches children still running if join was never called;
 * spawns waiting for a place fail with EINVAL). Handles you hold stay yours. */
void tt_group_free(tt_group *g);

/* asyncio.timeout / Trio's fail_after, kept on the caller's stack; its fields are private. */
typedef struct tt_timeout { uint64_t private_[8]; } tt_timeout;
int64_t tt_now(void); /* CLOCK_MONOTONIC in ns */
/* Inside a task. 0, -EPERM outside a task, -EINVAL, -EBUSY if t is entered, not exited and its
 * deadline pending (exit it first; an exited scope may be entered again). delay TT_FOREVER: no
 * deadline yet. */
int tt_timeout_enter(tt_timeout *t, int64_t delay);
int tt_timeout_enter_at(tt_timeout *t, int64_t deadline);
int tt_timeout_reschedule(tt_timeout *t, int64_t delay); /* -EPERM after exit or expiry */
/* Stores the deadline, or TT_FOREVER, in *deadline: 0, or -EINVAL (never entered, NULL). */
int tt_timeout_when(const tt_timeout *t, int64_t *deadline);
/* Closes the scope with the block's outcome rc: -ETIMEDOUT if this scope's deadline fired and
 * rc is -ECANCELED caused by it; otherwise rc. Every enter needs its exit before the task ends:
 * the scope's timer lives in the struct on the caller's stack. */
intptr_t tt_timeout_exit(tt_timeout *t, intptr_t rc);
int tt_timeout_expired(const tt_timeout *t);

/* Shield scopes (Trio's CancelScope(shield=True)), kept on the caller's stack, fields private:
 * a block that cancellation cannot cut, for cleanup that must finish (a compensating write, a
 * graceful close). Inside, a cancel request on the current task is held back: awaits, sleeps
 * and IO are not interrupted, and tt_cancelling() still counts it. At the exit of the outermost
 * scope a held-back request (or one already pending at enter) is delivered at the next
 * suspension point. A timeout scope entered inside the shield still fires; one entered outside
 * it is held back like any other request. Scopes nest and close in LIFO order.
 * enter: 0, -EPERM outside a task, -EINVAL for NULL. exit: 0, -EINVAL if s was never entered,
 * -EPERM from another task, twice, or for a scope that is not the innermost. */
typedef struct tt_shield_scope { uint64_t private_[4]; } tt_shield_scope;
int tt_shield_enter(tt_shield_scope *s);
int tt_shield_exit(tt_shield_scope *s);

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
 *     (and readv, writev, recvmsg, sendmsg) return as soon as some bytes moved (loop on the
 *     count); MSG_WAITALL waits for all n (recvmsg/sendmsg: on stream sockets, as the ring), and
 *     a cancel or error after some bytes returns their count (the cancel stays pending).
 *   - Regular files, block devices and directories (read, write, readv, writev, fsync, close),
 *     openat and statx run on the loop's default pool (tt_loop_opts.pool), as in libuv: they
 *     share its threads and queue (a small max_threads or queue_limit throttles them, a shut-down
 *     pool refuses them with -ESHUTDOWN) and count in its statistics. A cancelled call that has not started never
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

/* ================================================================ server toolkit */
/* What a network server or a supervisor of child processes needs beyond the raw ring calls:
 * more IO calls, signals, byte streams, name resolution, listen/connect, a serve helper and
 * subprocesses. Everything except the IO calls themselves is built on the IO calls above and
 * tt_to_thread, so it behaves the same whatever the loop's backend. Every call here that
 * suspends runs inside a task (-EPERM outside), may be cancelled or put in a timeout scope
 * (-ECANCELED, which tt_timeout_exit turns into -ETIMEDOUT), and says below what a
 * cancellation leaves behind. */

/* ---- more IO on the ring: same rules as the IO calls above (cqe->res, cancellation).
 * iovcnt is 0..1024 (-EINVAL beyond). tt_statx fills *out (0) and takes statx(2)'s flags and
 * mask. tt_shutdown's how is SHUT_RD, SHUT_WR or SHUT_RDWR (-EINVAL otherwise). */
struct iovec;
struct statx;
intptr_t tt_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
intptr_t tt_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);
intptr_t tt_sendmsg(int fd, const struct msghdr *msg, int flags);
intptr_t tt_recvmsg(int fd, struct msghdr *msg, int flags);
intptr_t tt_statx(int dfd, const char *path, int flags, unsigned mask, struct statx *out);
intptr_t tt_shutdown(int fd, int how);

/* ---- signals. A signal is received by waiting for it, never by a handler: the set must be
 * blocked in every thread, so that the kernel keeps it pending until a task reads it. Threads
 * the library creates (pool workers, the detectors' monitor, a loop's stack preparer) block
 * every signal. The application blocks the set in its
 * own threads — simplest, with tt_signal_block in main before it creates any thread (new
 * threads inherit the mask); a thread that leaves it unblocked gets the signal's default
 * action instead (for SIGTERM: the process ends). Children started by tt_process_spawn start
 * with no signal blocked. */
#ifdef _POSIX_C_SOURCE /* sigset_t: not in strict ISO C mode (-std=c11 without feature macros) */
/* Blocks set in the calling thread (pthread_sigmask). 0, or -EINVAL (NULL). Any thread. */
int tt_signal_block(const sigset_t *set);
/* Inside a task: blocks set in the calling thread (as tt_signal_block, and leaves it blocked)
 * and suspends until one of its signals is pending; takes that one signal and returns its
 * number (> 0). A signal that arrives while nobody waits stays pending for the next wait; a
 * cancelled wait takes none. -EINVAL (NULL, empty set, or only SIGKILL/SIGSTOP), -EMFILE
 * (no fd for the signalfd), -ECANCELED, -EPERM. */
int tt_signal_wait(const sigset_t *set);
#endif

/* ---- byte streams over any fd (socket, pipe, tty, file). Sockets are written with
 * MSG_NOSIGNAL (a closed peer is -EPIPE, never SIGPIPE). An fd in non-blocking mode works too:
 * the calls wait for readiness with tt_poll. */

/* Inside a task: writes all n bytes. Returns n, or the first error; *done (may be NULL) gets the
 * count written before the error or the cancellation (the bytes already sent are not taken
 * back). -EINVAL (fd < 0, NULL buf with n > 0), -EPIPE, -ECANCELED, -EPERM. */
intptr_t tt_write_all(int fd, const void *buf, size_t n, size_t *done);
/* Inside a task: reads exactly n bytes into buf. Returns n; -ENODATA if end of file came first
 * (*done tells how many bytes arrived, all in buf); any error or -ECANCELED likewise with *done
 * (may be NULL). -EINVAL, -EPERM. */
intptr_t tt_read_exactly(int fd, void *buf, size_t n, size_t *done);

/* A buffered reader (asyncio's StreamReader) and an unbuffered writer on one fd. The stream borrows fd: it
 * never closes it. Every read is cancellation-safe: bytes that arrived stay in the stream's
 * buffer until a call returns them, so a read interrupted by a cancellation or a timeout loses
 * nothing and the next read goes on where it stood. Loop-thread only, one reader at a time. */
typedef struct tt_stream tt_stream;
/* limit: the longest line tt_stream_read_until accepts (delimiter included); 0: 64 KiB.
 * NULL + errno: EINVAL (fd < 0), EBADF (fd not open), ENOMEM. Any thread (no IO). */
tt_stream *tt_stream_new(int fd, size_t limit);
/* Frees the buffer (buffered bytes are dropped); the fd stays open. NULL is fine. */
void tt_stream_free(tt_stream *s);
int tt_stream_fd(const tt_stream *s);           /* the fd; -EINVAL for NULL */
size_t tt_stream_buffered(const tt_stream *s);  /* bytes read from fd and not yet returned */
/* Inside a task: up to n bytes, buffered ones first (reads fd only when the buffer is empty).
 * Returns the count, 0 at end of file (or for n == 0), -errno, -ECANCELED, -EINVAL, -EPERM. */
intptr_t tt_stream_read(tt_stream *s, void *buf, size_t n);
/* Inside a task: exactly n bytes. n, or -ENODATA at end of file with fewer than n buffered (they
 * stay buffered); on a cancellation or an error nothing is copied and nothing is lost. The
 * buffer grows to n if needed (-ENOMEM). */
intptr_t tt_stream_read_exactly(tt_stream *s, void *buf, size_t n);
/* Inside a task: reads up to and including the first occurrence of delim (dlen >= 1 bytes).
 * Returns the length, delimiter included, with *line pointing at the bytes inside the stream's
 * buffer: valid until the next call on s. 0 at end of file with nothing buffered.
 * -EMSGSIZE: no delimiter within the stream's limit (the bytes stay buffered; tt_stream_read
 * drains them); -ENODATA: end of file in the middle of a line (the partial line stays buffered);
 * -ECANCELED, -errno (bytes stay buffered); -EINVAL (NULL, dlen 0); -EPERM. */
intptr_t tt_stream_read_until(tt_stream *s, const void *delim, size_t dlen, const char **line);
/* tt_stream_read_until(s, "\n", 1, line). */
intptr_t tt_stream_readline(tt_stream *s, const char **line);
/* Inside a task: tt_write_all on the stream's fd. */
intptr_t tt_stream_write_all(tt_stream *s, const void *buf, size_t n, size_t *done);

/* ---- names. getaddrinfo runs on the loop's default pool. Its EAI_* codes become outcomes
 * TT_EAI(EAI_NONAME)... in [TT_EAI_BASE - 255, TT_EAI_BASE - 1], far below every -errno, and
 * tt_strerror names them with gai_strerror; EAI_SYSTEM becomes the -errno it carries. */
struct addrinfo;
#define TT_EAI_BASE (-20000)
#define TT_EAI(eai) ((intptr_t)TT_EAI_BASE + (eai)) /* glibc's EAI_* are negative */
#define TT_IS_EAI(r) ((r) <= (intptr_t)TT_EAI_BASE - 1 && (r) >= (intptr_t)TT_EAI_BASE - 255)
/* Inside a task: getaddrinfo(host, service, hints) on the pool. 0 with *res (free it with
 * freeaddrinfo), a TT_EAI code, -ENOMEM, -EINVAL (res NULL, or host and service both NULL),
 * -ECANCELED (a lookup already running is waited for, as every default-mode job is:
 * getaddrinfo cannot be interrupted, its own resolver timeouts bound it; its result is freed),
 * -EPERM. */
int tt_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res);

/* ---- listen and connect. Each returns a new fd (close-on-exec, blocking mode; yours to
 * close) or a negative code: a TT_EAI code for a name that does not resolve, the last address's
 * -errno when none worked, -EINVAL, -ENOMEM, -ECANCELED, -EPERM. Inside a task, except
 * tt_listen_unix (it neither resolves nor waits: any thread). */
#define TT_LISTEN_REUSEPORT 1u /* SO_REUSEPORT: several listeners share the port */
/* A TCP listener on host:port (port "0": any free port, see getsockname). host NULL: every
 * address, IPv6 and IPv4 on one dual-stack socket where the system has IPv6. SO_REUSEADDR is
 * set; backlog <= 0: SOMAXCONN. */
intptr_t tt_listen_tcp(const char *host, const char *port, int backlog, unsigned flags);
/* A Unix stream listener at path (not unlinked first: an existing file is -EADDRINUSE; a path
 * starting with '@' is in the abstract namespace; backlog <= 0: SOMAXCONN). -ENAMETOOLONG past
 * sun_path. */
intptr_t tt_listen_unix(const char *path, int backlog);
/* Connects to host:port (TCP_NODELAY set), trying every address getaddrinfo returns: Happy
 * Eyeballs (RFC 8305), each next address started 250 ms after the previous one unless it
 * failed sooner; the first to connect wins and the others are cancelled and closed. */
intptr_t tt_connect_tcp(const char *host, const char *port);
intptr_t tt_connect_unix(const char *path);

/* ---- serving (asyncio.start_server). A server accepts on a listening fd in a task of its own
 * and runs handler(conn_fd, arg) as a new task per connection; the server owns conn_fd and
 * closes it when the handler returns (the handler may shut it down, not close it). A handler's
 * outcome is ignored: one failing connection never stops the others. The handlers are the
 * server's task group: tt_server_close stops accepting, gives them a grace period, cancels the
 * rest and waits until all have ended. Accept errors from resource exhaustion (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM) pause the accept loop for 100 ms; ECONNABORTED is skipped. */
typedef struct tt_server tt_server;
typedef intptr_t (*tt_conn_fn)(int conn_fd, void *arg);
/* Inside a task: starts serving listen_fd (borrowed: close it after tt_server_close). NULL +
 * errno: EINVAL, EPERM (outside a task), ENOMEM. */
tt_server *tt_server_start(int listen_fd, tt_conn_fn handler, void *arg);
/* Connections whose handler is running. 0 for NULL. */
size_t tt_server_connections(const tt_server *s);
/* Inside a task of the server's loop: stops accepting at once, waits up to grace (TT_FOREVER:
 * no limit; 0: none) for the running handlers to return, cancels those still running, waits
 * until every one has ended and frees the server. Returns 0, the error that had stopped the
 * accept loop (e.g. -EBADF), or -ECANCELED if the caller was cancelled meanwhile (the handlers
 * were then cancelled at once, and still waited for: the server is freed in every case).
 * -EINVAL, -EPERM, -EDEADLK from one of the server's own handlers (nothing freed: spawn a task
 * that closes it). Close every server before its loop ends. */
int tt_server_close(tt_server *s, int64_t grace);

/* ---- subprocesses. A child started with pipes; its exit awaited through a pidfd (where the
 * kernel has none, by polling waitid with a sleep growing to 50 ms). */
typedef struct tt_process tt_process;
#define TT_PIPE_STDIN  1u /* the child's fd 0 is a pipe: tt_process_fd(p, 0) writes to it */
#define TT_PIPE_STDOUT 2u /* fd 1 is a pipe: tt_process_fd(p, 1) reads from it */
#define TT_PIPE_STDERR 4u /* fd 2 likewise */
/* Starts argv[0] (searched in PATH when it has no '/') with argv and envp (NULL: this
 * process's environment); fds not piped are inherited. The child starts with no signal blocked
 * and default dispositions. NULL + errno: EINVAL (NULL argv or argv[0], unknown flags), ENOENT
 * and the other exec errors, EMFILE, ENOMEM. Any thread (no suspension). */
tt_process *tt_process_spawn(char *const argv[], char *const envp[], unsigned flags);
int tt_process_pid(const tt_process *p);      /* > 0; -EINVAL for NULL */
/* The parent's end of the child's fd 0, 1 or 2 (owned by p), or -EBADF if not piped or closed. */
int tt_process_fd(const tt_process *p, int child_fd);
/* Closes the parent's end (e.g. stdin, so the child sees end of file). 0, -EBADF, -EINVAL. */
int tt_process_close_fd(tt_process *p, int child_fd);
/* Sends sig to the child (never to a recycled pid: only p reaps it, and until then the pid is
 * the child's). 0, -ESRCH once reaped, -EINVAL; 0 as signal checks that it exists. */
int tt_process_kill(tt_process *p, int sig);
/* Inside a task: waits for the child to exit and reaps it. Returns its exit code (0..255), or
 * TT_EXIT_SIGNALED + the signal number if a signal killed it; again and again once reaped.
 * -ECANCELED leaves the child running and p intact (wait again, or free it); -EPERM, -EINVAL. */
intptr_t tt_process_wait(tt_process *p);
#define TT_EXIT_SIGNALED 256
/* Closes the pipes; a child not yet reaped is killed (SIGKILL) and reaped here, so no zombie is
 * ever left behind (Tokio's kill_on_drop): wait first to let it finish. NULL is fine. */
void tt_process_free(tt_process *p);

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

/* ================================================================ observability */
/* Latency histograms (always on), detectors of stuck blocking calls and of a loop that does not
 * come back, a shutdown that names what it gave up on, and blocking calls interrupted on cancel.
 *
 * A tt_hist is a log-linear histogram of nanoseconds: values below 32 each have a bucket of their
 * own; above, every power of two is split into 16 buckets (within 1/16, about 6 %). Its buckets
 * are raw counts: histograms of several pools or runs add up with tt_hist_merge. */
#define TT_HIST_SUB_BITS 4
#define TT_HIST_BUCKETS ((64 - TT_HIST_SUB_BITS) * (1 << TT_HIST_SUB_BITS) + (1 << TT_HIST_SUB_BITS))
typedef struct tt_hist {
    uint64_t count;                    /* values recorded */
    uint64_t sum;                      /* their total (ns), for the mean */
    uint64_t max;                      /* the upper bound of the highest non-empty bucket */
    uint64_t buckets[TT_HIST_BUCKETS]; /* counts per bucket (tt_hist_bucket_range) */
} tt_hist;

/* The nearest-rank percentile p (0 < p <= 100) of h: the highest value of the bucket holding the
 * ceil(p / 100 * count)-th smallest value (so at most 1/16 above it); 0 for an empty histogram.
 * -EINVAL for NULL h or p outside (0, 100]. */
int64_t tt_hist_percentile(const tt_hist *h, double p);
/* Adds src's counts into dst. 0, or -EINVAL for NULL. */
int tt_hist_merge(tt_hist *dst, const tt_hist *src);
/* The values bucket i stands for: [*lo, *hi] (either may be NULL). 0, or -EINVAL for
 * i >= TT_HIST_BUCKETS. */
int tt_hist_bucket_range(size_t i, uint64_t *lo, uint64_t *hi);

/* A pool's latencies since it was created. Timing is SAMPLED so that it can stay on: each
 * worker times the first of every TT_POOL_SAMPLE jobs it runs (its 1st, 17th, 33rd...), so a
 * histogram's count and sum cover the timed jobs only (count is about jobs / TT_POOL_SAMPLE; the
 * mean is sum / count) and its percentiles are estimates of all jobs'. jobs is exact.
 *   jobs        jobs that ran (every one, counted when fn returned).
 *   queue_wait  submit -> a worker starts fn (timed jobs). A job's submit time is the start of the
 *               loop turn that called tt_to_thread (jobs are handed over at the end of the turn,
 *               so this includes that batching delay, and at most one turn more).
 *   run         fn's own time on the worker (timed jobs).
 *   resume      fn returned -> its loop delivers the result (the awaiting task is queued then and
 *               runs in the same loop iteration, behind what was ready before it: see the loop's
 *               ready lag). Sampled further: once per batch of completions the loop takes in, on
 *               the batch's first timed job, so count is the number of batches holding one.
 * A timed job costs two clock reads on the worker and two additions per histogram; the others
 * cost a counter. stuck_reported counts the blocking calls the stuck-call detector has reported. */
#define TT_POOL_SAMPLE 16
typedef struct tt_pool_latency {
    uint64_t jobs;
    tt_hist queue_wait, run, resume;
    uint64_t stuck_reported;
    unsigned stuck_now; /* running calls past the threshold at the detector's last look */
} tt_pool_latency;
/* From any thread: a copy of pool's histograms (out is about 24 KiB). 0, or -EINVAL for NULL. */
int tt_pool_latency_get(tt_pool *pool, tt_pool_latency *out);
/* The same for loop's default pool (NULL: the current loop), on the loop's thread: 0, -EINVAL
 * (NULL out), -EPERM (no loop, another thread), -ENOENT (the loop has no default pool: it has not
 * offloaded anything yet). */
int tt_loop_pool_latency_get(tt_loop *loop, tt_pool_latency *out);

/* How late a loop runs what is due, since it was created:
 *   timers  a timer's deadline -> its callback or wake-up runs (every timer that fired).
 *   ready   once per turn that starts with work left by the previous turn: the time since the
 *           previous turn started, an upper bound of how long the turn's oldest item waited
 *           (measuring each item would cost a clock read per wake-up). */
typedef struct tt_loop_lag {
    tt_hist timers, ready;
} tt_loop_lag;
/* On the loop's thread: a copy of loop's lag histograms (NULL loop: the current one). 0, -EINVAL
 * (NULL out), -EPERM (no loop, another thread). */
int tt_loop_lag_get(tt_loop *loop, tt_loop_lag *out);

/* DETECTORS, set per pool and per loop (or on by debug mode, TT_DEBUG=1, with 1 s; a pool reads
 * the variable when it is created):
 *   - a blocking call still running after the pool's threshold is reported once on the warn
 *     handler: "pool 'NAME': blocking call SYMBOL running for N ms on thread T". The workers
 *     read no clock per job: the monitor tells a call is the same from a per-worker job count
 *     that has not moved, and times it from its first look at it (exactly, for a timed job), so
 *     a call is reported between 1 and 1.5 thresholds after it started and N may fall short of
 *     its true running time by up to a quarter threshold. SYMBOL comes
 *     from dladdr: a function of the executable is named only if it is exported (link with
 *     -rdynamic), else its address is printed; a static build names only exported symbols.
 *   - a loop step (a task or a callback) that has not returned after the loop's threshold is
 *     reported while it is still stuck: "loop stalled for N ms in task 'NAME'" (a task blocked in
 *     a system call on the loop's thread, an endless loop). Debug mode's slow-step warning (a
 *     step over 100 ms, reported once it returns) stays as it was.
 * Both are run by one monitor thread per process, started with the first enabled detector and
 * stopped with the last; it looks every threshold / 4 (at most every 1 ms). It warns from its own
 * thread: the warn handler must be thread-safe, must not free the pool or loop it names and must
 * not call tt_pool_watch or tt_loop_watch. */
/* Sets pool's stuck-call threshold: > 0 ns, or < 0 off (0: debug mode's default). Any thread,
 * any time. 0, -EINVAL (NULL), -ENOMEM or -EAGAIN (the monitor thread could not start). */
int tt_pool_watch(tt_pool *pool, int64_t stuck_after);
/* Sets loop's watchdog threshold (NULL loop: the current one): > 0 ns, or < 0 off (0: debug
 * mode's default). On the loop's thread. 0, -EPERM (no loop, another thread), -ENOMEM or -EAGAIN
 * (no monitor thread). */
int tt_loop_watch(tt_loop *loop, int64_t stall_after);

/* A blocking call that was still running when a shutdown gave up waiting. */
typedef struct tt_pool_call {
    const void *fn;   /* the function */
    char symbol[64];  /* its name (dladdr), or its address in hex */
    char thread[16];  /* the worker thread's name */
    int64_t elapsed;  /* ns it had been running: exact for a timed job (see tt_pool_latency),
                         else since the pool first saw it running (the stuck detector's look
                         or this shutdown's start), so at least the shutdown's timeout */
} tt_pool_call;
/* tt_pool_shutdown that reports: on -ETIMEDOUT, calls[0..max) get the calls still running (the
 * longest first) and *n (may be NULL) their number (may exceed max). *n is 0 on success. Same
 * errors as tt_pool_shutdown; -EINVAL for calls NULL with max > 0. In debug mode
 * tt_pool_shutdown itself prints them on the warn handler when it times out. */
int tt_pool_shutdown_report(tt_pool *pool, int64_t timeout, unsigned flags, tt_pool_call *calls,
                            size_t max, size_t *n);

/* INTERRUPT ON CANCEL: tt_job_opts.flags TT_JOB_INTERRUPT_ON_CANCEL. When a tt_cancel reaches the
 * job while fn runs, the worker thread gets a real-time signal whose handler does nothing,
 * installed without SA_RESTART and unblocked only while such a job runs: the blocking call fn is in
 * returns -1/EINTR — read/write on pipes, sockets and ttys, recv/send/accept/connect, poll/
 * select/epoll_wait, nanosleep/usleep/clock_nanosleep, futex waits (pthread_cond_timedwait and
 * sem_wait return; pthread_mutex_lock does not), wait/waitpid, pause, sigwait. It cannot
 * interrupt disk IO in uninterruptible sleep (D state: read/write/fsync of a regular file) nor
 * calls that restart by themselves. A signal can land just before fn enters its call: the pool
 * re-sends it every 5 ms until fn returns, so fn must treat EINTR as "check tt_job_cancelled()
 * and return" rather than retry blindly; after the first signal tt_job_cancelled() is 1.
 * The signal is SIGRTMIN + 2 unless TT_INTERRUPT_SIGNAL names another (a number) or
 * tt_interrupt_signal chose one; it is installed at the first such job. The library never
 * replaces the application's handler: if the chosen signal already has one, submitting such a
 * job fails with EBUSY. */
#define TT_JOB_INTERRUPT_ON_CANCEL 2u
/* Chooses the signal (before the first interruptible job; 0 only reads it): returns the signal in
 * use or to be used, -EINVAL (not a real-time signal), -EBUSY (another one is installed). */
int tt_interrupt_signal(int sig);

#ifdef __cplusplus
}
#endif
#endif /* TOTHREAD_H */
