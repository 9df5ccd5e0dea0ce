/* tt-stress generator: what each worker does and when. A private random stream per worker
 * (seeded from --seed, the loop and the worker's index), the plan of one offload or timeout
 * operation drawn from it in one go, and the open-loop arrival schedule (--rate). Pure code: the
 * same seed gives the same plans whatever the threads' timing, which the unit tests check. */
#ifndef TT_STRESS_GEN_H
#define TT_STRESS_GEN_H

#include <stdint.h>

#include "args.h"

/* xorshift64* state; never 0. */
typedef struct stress_rng {
    uint64_t s;
} stress_rng;

/* The stream of worker `stream` on loop `loop` for a run with `seed` (splitmix64-derived, so
 * neighbouring seeds and workers give unrelated streams). */
void stress_rng_init(stress_rng *r, uint64_t seed, unsigned loop, unsigned stream);
/* A child stream for a task the worker starts: drawing it advances the parent once. */
stress_rng stress_rng_split(stress_rng *parent);
uint64_t stress_rand(stress_rng *r);
double stress_rand01(stress_rng *r); /* [0, 1) */
int stress_coin(stress_rng *r, double p);

/* How an operation's task waits for its job. */
typedef enum { WAIT_AWAIT, WAIT_FOR, WAIT_SCOPE } wait_kind;

/* One offloaded operation, decided before it starts. */
typedef struct stress_plan {
    int cancel;             /* run it in a child task and cancel that task */
    int cancel_at_once;     /* cancel right after submission (the job is queued) ... */
    int64_t cancel_delay_ns;/* ... or after this delay (running or finishing) */
    int abandon;            /* TT_JOB_ABANDON_ON_CANCEL */
    int fail;               /* the job returns an error */
    int64_t cost_ns;        /* the job's duration under the cost model */
    wait_kind how;
    int64_t timeout_ns;     /* WAIT_FOR / WAIT_SCOPE */
} stress_plan;

/* The cost model's sample: fixed (and spin/read/fsync) = mean, uniform [0, 2*mean],
 * exponential capped at 50 means. */
int64_t stress_plan_cost(stress_rng *r, const stress_config *cfg);
/* TT_JOB_ABANDON_ON_CANCEL for one operation under --mode. */
int stress_plan_abandon(stress_rng *r, const stress_config *cfg);
/* An offload worker's next operation (cancelled with probability cancel_rate). */
void stress_plan_offload(stress_rng *r, const stress_config *cfg, double cancel_rate, stress_plan *p);
/* A timeout worker's next operation: tt_wait_for or a scope, deadline over [0, 2*mean]. */
void stress_plan_timeout(stress_rng *r, const stress_config *cfg, stress_plan *p);

/* Open loop (--rate): the run's arrivals are spread evenly over its workers, worker i of n
 * taking arrivals i, i + n, i + 2n, ... of the schedule t0 + k / rate. A worker that falls
 * behind starts its next unit at once, and that unit's latency still counts from its intended
 * start (coordinated-omission correction, as wrk2 does). */
typedef struct stress_pacer {
    double rate;      /* arrivals per second over the whole run; 0: closed loop */
    int64_t t0;
    uint64_t arrival; /* the global index of this worker's next arrival */
    unsigned step;    /* workers in the run */
    int64_t intended, started; /* the current unit */
} stress_pacer;

void stress_pacer_init(stress_pacer *p, double rate, int64_t t0, unsigned workers, unsigned index);
/* The current unit's intended start (the caller waits until then if it is early). */
int64_t stress_pacer_intended(const stress_pacer *p);
/* The unit really started at `now` (>= intended when the worker waited). */
void stress_pacer_start(stress_pacer *p, int64_t now);
/* The unit ended at `end`: its latency from the intended start (corrected) and from the real
 * start (uncorrected; corrected >= uncorrected); moves on to the worker's next arrival. */
void stress_pacer_end(stress_pacer *p, int64_t end, int64_t *corrected, int64_t *uncorrected);

#endif
