/* tt-stress internals shared by the runtime parts: the per-run and per-loop state, the operation
 * life cycle (ops.c), the scenario workers (scenarios.c) and the runner (run.c). Each loop owns
 * its loop_ctx and touches it only from its own thread; the progress thread reads only the
 * atomics marked "progress". */
#ifndef TT_STRESS_H
#define TT_STRESS_H

#include <stdatomic.h>
#include <stdint.h>

#include "args.h"
#include "gen.h"
#include "report.h"
#include "tothread.h"

/* Fault injection (TT_STRESS_INJECT): simulate a runtime that loses or repeats a completion. */
enum { INJECT_NONE, INJECT_DROP, INJECT_DOUBLE };

typedef struct stress_shared {
    const stress_config *cfg;
    tt_pool *pool;          /* NULL: each loop's default pool */
    int file_fd;            /* temp file for the read/fsync cost models, else -1 */
    int64_t t_start, deadline; /* deadline: t_start + duration (count mode: INT64_MAX) */
    int inject;
    atomic_int inject_done; /* the injected fault happens once */
    atomic_int stop;        /* SIGINT: stop taking new work */
    atomic_long canary_bad; /* jobs run on workers: process-wide counters */
    _Atomic(const char *) backend; /* tt_loop_backend of the first loop made (for the report) */
} stress_shared;

/* Bits of an operation's state byte. */
enum { ST_SUBMITTED = 1, ST_ENDED = 2, ST_EXPECT_DISCARD = 4, ST_DISCARDED = 8 };
#define OPS_CHUNK_BITS 16

typedef struct loop_ctx {
    stress_shared *sh;
    unsigned index;
    tt_loop *loop;
    uint64_t quota, taken; /* count mode: units of work this loop may start */

    /* One state byte per operation id, in chunks of 64 Ki so ids never move. */
    uint8_t **chunks;
    size_t nchunks;
    uint64_t next_id;
    long ops_open;          /* op records waiting for their task or their callback */
    uint64_t discard_expected, discard_called;
    struct jobarg *graveyard; /* abandoned jobs' arguments, freed after the pool is gone */

    tt_job_opts opts_default, opts_abandon;
    stress_report *rep;

    /* The io scenario (io.c): a loopback listener and the lock that pairs each tt_connect with
     * its own tt_accept (two workers connecting at once could take each other's connection). */
    int io_listen;                        /* -1 when the scenario has no io workers */
    struct sockaddr_storage io_addr;
    socklen_t io_addrlen;
    tt_lock *io_lock;
    unsigned io_serial;                   /* names streams in messages */
    int setup_error;

    /* progress: written by this loop only (relaxed), read by the progress thread. */
    atomic_ullong p_submitted, p_ended, p_units, p_errors, p_violations;
    atomic_llong p_late_ns; /* open loop: how late the last unit started against its schedule */
} loop_ctx;

extern _Thread_local loop_ctx *stress_tls_ctx;
/* discard calls that came off every loop thread (their loop was gone): all are failures. */
extern atomic_long stress_late_discards;

/* A worker task of a loop: its kind, its own random stream (so its plans do not depend on how
 * the loop interleaves it with others) and its place in the open-loop schedule. */
typedef enum { W_OFFLOAD, W_TIMEOUT, W_GROUP, W_IO } worker_kind;

typedef struct stress_worker {
    loop_ctx *ctx;
    worker_kind kind;
    double cancel_rate;
    stress_rng rng;
    stress_pacer pace;
} stress_worker;

/* ops.c */
/* Inside a task: one offloaded operation as planned (the plan's cancel fields are the
 * caller's business), start to end, with every check. cancel_expected: someone may cancel
 * this task, so -ECANCELED is no surprise. Returns what the awaiting side saw (the job's
 * value, an error, -ECANCELED or -ETIMEDOUT). */
intptr_t stress_do_op(loop_ctx *ctx, const stress_plan *plan, int cancel_expected);
void stress_semantic(loop_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After the loop is freed: lost/doubled/discard verdicts from the state bytes; frees them. */
void stress_ops_finish(loop_ctx *ctx);
void stress_free_graveyard(loop_ctx *ctx);

/* IO calls on the ring get an id and a state byte like jobs (ended exactly once), and their
 * latency under an OUT_IO_* outcome (OUT_ERROR for an unexpected failure). */
uint64_t stress_op_begin(loop_ctx *ctx);
void stress_op_end(loop_ctx *ctx, uint64_t id, stress_outcome k, int64_t latency_ns);
/* A byte-stream violation (lost, duplicated, reordered or corrupted data): the "stream" invariant. */
void stress_stream_bad(loop_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* scenarios.c: the loop's main task. */
intptr_t stress_loop_main(void *arg);
/* Takes one unit of work (count mode) or checks the deadline; 0 when the worker should stop.
 * Open loop: first waits for the unit's intended start. */
int stress_take(stress_worker *w);
/* One unit finished (progress; open loop: its corrected and uncorrected latency). */
void stress_unit_done(stress_worker *w);

/* io.c: the loop's listener (0 or -errno) and its teardown; one io worker's whole life. */
int stress_io_setup(loop_ctx *ctx);
void stress_io_teardown(loop_ctx *ctx);
void stress_io_worker(stress_worker *w);

/* run.c */
int stress_run(const stress_config *cfg, stress_report *out);

#endif
