/* tt-stress report: the numbers a run produced (outcome counts, latency histograms, pool
 * statistics, invariant counters) and their renderings as a text table, JSON, OpenMetrics and
 * an SVG plot.
 * Pure functions of a stress_report, so the formats are unit-testable without a loop. */
#ifndef TT_STRESS_REPORT_H
#define TT_STRESS_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "histogram.h"

typedef enum {
    OUT_OK,
    OUT_ERROR,
    OUT_CANCEL_QUEUED,  /* cancelled before the job started: it never ran */
    OUT_CANCEL_RUNNING, /* cancelled while running and fn chose -ECANCELED (the awaiter waited
                           for it to return; one that returned its value counts as OK) */
    OUT_ABANDONED,      /* TT_JOB_ABANDON_ON_CANCEL: the awaiter went on, the result went to discard */
    OUT_TIMED_OUT,      /* tt_wait_for or a timeout scope answered -ETIMEDOUT */
    OUT_IO_OK,          /* an IO call on the ring returned the kernel's count (io scenario) */
    OUT_IO_CANCELLED,   /* an IO call returned -ECANCELED: its task was cancelled or timed out */
    OUT_IO_TIMED_OUT,   /* a timeout scope or tt_wait_for around IO answered -ETIMEDOUT */
    OUT_COUNT_
} stress_outcome;

extern const char *const stress_outcome_names[OUT_COUNT_];

/* The io scenario's stream kinds: its io-ok latency is also kept per kind, because a kernel
 * artefact of one kind (TCP's persist timer) must not read as a runtime stall of all. */
typedef enum { IO_KIND_PIPE, IO_KIND_UNIX, IO_KIND_TCP, IO_KIND_COUNT_ } stress_io_kind;
extern const char *const stress_io_kind_names[IO_KIND_COUNT_];

/* Where an offloaded call's time goes: submit -> a worker starts it (queue wait), the call
 * itself (run), fn returned -> the awaiting task runs again (resume). */
typedef enum { PHASE_QUEUE, PHASE_RUN, PHASE_RESUME, PHASE_COUNT_ } stress_phase;
extern const char *const stress_phase_names[PHASE_COUNT_];

/* A set of phase histograms and who measured them. Today tt-stress measures them itself with
 * tt_now() stamps in the job function and the awaiting task (source "tt-stress"); a set the
 * pool measures (issue 12's pool latency API) renders through the same code, with its own
 * source name. Empty (source "") when the scenario offloads nothing. */
typedef struct stress_phases {
    char source[24];
    hist h[PHASE_COUNT_];
} stress_phases;

typedef struct stress_pool_report {
    int have;            /* 0 when each loop used its default pool (no shared stats) */
    unsigned threads, idle, running, peak_threads, peak_running;
    uint64_t queued, completed, cancelled, peak_queued;
} stress_pool_report;

typedef struct stress_report {
    char scenario[32];
    char backend[16];        /* the loops' backend: "io_uring" or "epoll" */
    char settings[400];      /* one line describing the options in effect */
    uint64_t seed;           /* --seed: the same value replays the run's plans */
    double elapsed_s;
    uint64_t submitted, ended;
    uint64_t outcomes[OUT_COUNT_];
    hist lat[OUT_COUNT_];    /* latency (submit -> the awaiting side saw the outcome), per outcome */
    hist all;
    hist io_kind[IO_KIND_COUNT_]; /* io-ok latency per stream kind */
    stress_phases phases;
    stress_phases pool_phases; /* the same phases as the pool measured them (tt_pool_latency) */
    uint64_t stuck_reported;   /* blocking calls the pool's stuck-call detector reported */
    /* Open loop (--rate): units of work (one operation, group or io episode) timed from their
     * intended start (corrected for coordinated omission) and from their real start. */
    double rate;             /* arrivals per second; 0: closed loop */
    hist unit_corrected, unit_uncorrected;
    stress_pool_report pool;
    uint64_t groups, groups_failed, cancel_too_late;
    /* The io scenario: bytes received and checked against the writer's sequence, streams
     * closed with their totals checked, cancels or timeouts that lost the race to the data
     * (the call returned data; the cancel came at the next suspension point), connections. */
    uint64_t io_bytes, io_streams, io_raced, io_connects;
    uint64_t io_cancel_dropped; /* tt_wait_for returned its inner's result and the caller's cancel
                                   was gone (3.11's rule): the task would have run on */

    /* The invariants. */
    uint64_t lost;           /* submitted, never ended */
    uint64_t doubled;        /* ended more than once */
    long live[6];            /* tt_live after everything was freed: futures tasks stacks jobs loops pools */
    uint64_t discard_expected, discard_called, discard_mismatch;
    uint64_t canary_bad;     /* a job's argument was damaged or freed while it ran */
    uint64_t early_resume;   /* default mode: the awaiter resumed before its running job returned */
    uint64_t semantic;       /* wrong result, timeout before its deadline, group join mismatch */
    char semantic_first[200];
    uint64_t stream_bad;     /* io: bytes lost, duplicated, reordered or corrupted on a stream */
    char stream_first[200];
    int hung;                /* the run did not finish in time (watchdog) */
    char inject[16];         /* TT_STRESS_INJECT in effect ("" if none) */
} stress_report;

void report_init(stress_report *r);
/* Merges counts and histograms of src into dst (per-loop reports into the total). */
void report_merge(stress_report *dst, const stress_report *src);

/* Names every failed invariant, comma-separated, into buf ("" when all hold); returns how many. */
int report_failures(const stress_report *r, char *buf, size_t len);
/* Total leaked live objects. */
long report_leaked(const stress_report *r);

/* A duration for humans: "250 ns", "1.5 us", "12.3 ms", "2.05 s" (3 significant digits). */
void report_fmt_ns(char *buf, size_t len, double ns);

extern const char *const stress_live_names[6]; /* the tt_live counters, in live[] order */
extern const double stress_report_pcts[4];      /* the percentiles every format shows */

/* Whether a phase set holds data / a report has io-ok per stream kind to show. Each renderer
 * shows a phase set through one helper taking a stress_phases (the text table's rows, the JSON
 * object, the OpenMetrics samples labelled source=..., an SVG panel), so a second set is one
 * more call per renderer. */
int report_phases_present(const stress_phases *ph);
int report_has_io_kinds(const stress_report *r);

/* Throughput in ended operations per second. */
double report_throughput(const stress_report *r);

/* report.c: the text table. */
void report_print(FILE *out, const stress_report *r);
/* report_json.c: the JSON document, and the same numbers in the OpenMetrics text format
 * (Prometheus exposition, ending with "# EOF"). 0, or -1 on a write error. */
int report_json(FILE *out, const stress_report *r);
int report_openmetrics(FILE *out, const stress_report *r);
/* report_svg.c: latency by percentile, one panel per family of curves. */
int report_svg(FILE *out, const stress_report *r);

#endif
