/* tt-stress command line: the scenario, its options and their validation. Pure code (no
 * tothread calls, no exit, no printing) so that every bad-argument case is unit-testable: the
 * parser returns a status and a one-line message, main() prints it with the usage line. */
#ifndef TT_STRESS_ARGS_H
#define TT_STRESS_ARGS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SC_MIXED_LITE, /* the default: a light 10 s mix of everything */
    SC_OFFLOAD,
    SC_CANCEL,
    SC_TIMEOUT,
    SC_GROUP,
    SC_IO,
    SC_MIXED,
    SC_COUNT_
} stress_scenario;

typedef enum { COST_FIXED, COST_UNIFORM, COST_EXP, COST_SPIN, COST_READ, COST_FSYNC, COST_COUNT_ } stress_cost;

/* Which cancellation mode jobs run in: the default (awaiter waits for a running job), abandon
 * (TT_JOB_ABANDON_ON_CANCEL), or both, chosen per operation at random. */
typedef enum { MODE_DEFAULT, MODE_ABANDON, MODE_BOTH } stress_mode;

typedef struct stress_config {
    stress_scenario scenario;
    uint64_t count;        /* operations in total (0: run for duration_ns instead) */
    int64_t duration_ns;   /* run time when count == 0 */
    unsigned concurrency;  /* operations in flight per loop */
    unsigned pool_threads; /* 0: each loop's default pool */
    size_t queue_limit;    /* 0: unbounded */
    stress_cost cost;
    int64_t mean_ns;       /* the cost model's mean (fixed: exact; uniform: [0, 2*mean]) */
    double error_rate;     /* probability a job or group child fails */
    double cancel_rate;    /* probability an operation of offload/io/mixed is cancelled */
    stress_mode mode;
    unsigned loops;
    uint64_t seed;
    double rate;           /* open loop: units of work started per second (0: closed loop) */
    const char *json_path; /* NULL: no JSON */
    const char *plot_path; /* NULL: no SVG */
    const char *openmetrics_path; /* NULL: no OpenMetrics file */
    int progress;          /* 1: live progress on stderr (the default), 0: --no-progress */
    int tcp_small_buffers; /* io: 4 KiB buffers on TCP streams too (reproduces the persist timer) */
    int backend;           /* tt_backend's value: 0 auto, 1 uring, 2 epoll */
} stress_config;

enum { ARGS_OK = 0, ARGS_BAD = 2, ARGS_HELP = 3 };

/* Fills cfg from argv. Returns ARGS_OK; ARGS_HELP when --help was asked (help text for the
 * scenario goes to *help_scenario); or ARGS_BAD with a one-line message in err (no newline). */
int stress_args_parse(int argc, char **argv, stress_config *cfg, char *err, size_t errlen,
                      stress_scenario *help_scenario);

const char *stress_scenario_name(stress_scenario s);
const char *stress_cost_name(stress_cost c);
const char *stress_mode_name(stress_mode m);

/* Parsers shared with the tests: 0 on success, else -1 with a message in err. */
int stress_parse_duration(const char *s, int64_t *out);
int stress_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* An arrival rate "N" or "N/s" (fractions allowed), > 0 and at most 10 million per second:
 * 0, or -1 not a rate, -2 not positive, -3 too high. */
int stress_parse_rate(const char *s, double *out);

/* The one-line usage and the full help (for a scenario, or general with SC_COUNT_). */
extern const char stress_usage_line[];
void stress_help(stress_scenario s, char *buf, size_t len);

#endif
