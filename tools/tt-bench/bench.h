/* tt-bench: shared declarations of the benchmark workloads (W1..W7, listed in tt-bench --help)
 * and the small helpers they use: result-line output, clocks, RSS and CPU readings, and running
 * a function as the main task of a fresh loop. */
#ifndef TT_BENCH_H
#define TT_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>

#include "tothread.h"

#define SYSTEM "tothread"

/* Prints one result line "<W> <system> key=value ...": fmt is everything after the system
 * name. Lines go to the collector (tt-bench.c), which echoes them and keeps them for --json. */
void emit(const char *workload, const char *system, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports a fatal problem of a workload (wrong checksum, a setup error) and exits non-zero. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

uint64_t now_ns(void);        /* CLOCK_MONOTONIC */
long proc_status(const char *key); /* a numeric field of /proc/self/status (VmRSS, Threads) */
long vmrss_kib(void);         /* VmRSS in KiB */
long peak_rss_kib(void);      /* getrusage ru_maxrss */
uint64_t cpu_ns(void);        /* user + system time of the whole process */

/* Runs fn(arg) as the main task of a new loop on this thread whose default pool is pool
 * (NULL: the library's lazy default), then frees the loop. Returns the task's outcome; a
 * set-up failure ends the process. */
intptr_t run_main(tt_pool *pool, tt_fn fn, void *arg);
/* A pool of exactly n threads (min = max = n), so no measured call pays a thread start. */
tt_pool *fixed_pool(unsigned n, const char *name);
void pool_release(tt_pool *pool);

/* Workloads: n <= 0 means the default count of tt-bench --help. Each emits its line(s) and
 * returns 0, or non-zero when a check failed. */
int w1_offload_throughput(long n);
int w2_offload_latency(long n); /* also emits the IDLE line */
int w3_blocking_sleep(long n);
int w4_spawn_join(long n);
int w5_switch(long n);
int w6_idle_tasks(long n);
int w7_timeouts(long n);
/* --warm: the same process runs the workload a second time on the same loop, so the second
 * round recycles the first one's stacks and objects (a long-running server's steady state);
 * both rounds are printed, the second as system "tothread-warm". */
int w6_idle_tasks_warm(long n);
int w7_timeouts_warm(long n);

#endif
