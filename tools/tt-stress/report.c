/* tt-stress report: initialising and merging a report, the verdict (which invariants failed)
 * and the end-of-run text table. Everything is computed from a stress_report value; nothing
 * here touches the runtime. The JSON/OpenMetrics and SVG renderings are report_json.c and
 * report_svg.c. */
#include "report.h"

#include <math.h>
#include <string.h>

const char *const stress_outcome_names[OUT_COUNT_] = {
    "ok", "error", "cancelled-queued", "cancelled-running", "abandoned", "timed-out",
    "io-ok", "io-cancelled", "io-timed-out",
};

const char *const stress_io_kind_names[IO_KIND_COUNT_] = {"pipe", "unix", "tcp"};
const char *const stress_phase_names[PHASE_COUNT_] = {"queue-wait", "run", "resume"};
const char *const stress_live_names[6] = {"futures", "tasks", "stacks", "jobs", "loops", "pools"};
const double stress_report_pcts[4] = {50, 90, 99, 99.9};

void report_init(stress_report *r)
{
    memset(r, 0, sizeof *r);
    for (int k = 0; k < OUT_COUNT_; k++)
        hist_init(&r->lat[k]);
    hist_init(&r->all);
    for (int k = 0; k < IO_KIND_COUNT_; k++)
        hist_init(&r->io_kind[k]);
    for (int k = 0; k < PHASE_COUNT_; k++) {
        hist_init(&r->phases.h[k]);
        hist_init(&r->pool_phases.h[k]);
    }
    hist_init(&r->unit_corrected);
    hist_init(&r->unit_uncorrected);
}

int report_phases_present(const stress_phases *ph)
{
    return ph->source[0] && ph->h[PHASE_RUN].count > 0;
}

int report_has_io_kinds(const stress_report *r)
{
    for (int k = 0; k < IO_KIND_COUNT_; k++)
        if (r->io_kind[k].count)
            return 1;
    return 0;
}

void report_merge(stress_report *d, const stress_report *s)
{
    d->submitted += s->submitted;
    d->ended += s->ended;
    for (int k = 0; k < OUT_COUNT_; k++) {
        d->outcomes[k] += s->outcomes[k];
        hist_merge(&d->lat[k], &s->lat[k]);
    }
    hist_merge(&d->all, &s->all);
    for (int k = 0; k < IO_KIND_COUNT_; k++)
        hist_merge(&d->io_kind[k], &s->io_kind[k]);
    if (s->phases.source[0])
        memcpy(d->phases.source, s->phases.source, sizeof d->phases.source);
    for (int k = 0; k < PHASE_COUNT_; k++)
        hist_merge(&d->phases.h[k], &s->phases.h[k]);
    if (s->pool_phases.source[0])
        memcpy(d->pool_phases.source, s->pool_phases.source, sizeof d->pool_phases.source);
    for (int k = 0; k < PHASE_COUNT_; k++)
        hist_merge(&d->pool_phases.h[k], &s->pool_phases.h[k]);
    d->stuck_reported += s->stuck_reported;
    hist_merge(&d->unit_corrected, &s->unit_corrected);
    hist_merge(&d->unit_uncorrected, &s->unit_uncorrected);
    d->groups += s->groups;
    d->groups_failed += s->groups_failed;
    d->cancel_too_late += s->cancel_too_late;
    d->io_bytes += s->io_bytes;
    d->io_streams += s->io_streams;
    d->io_raced += s->io_raced;
    d->io_connects += s->io_connects;
    d->io_cancel_dropped += s->io_cancel_dropped;
    d->lost += s->lost;
    d->doubled += s->doubled;
    d->discard_expected += s->discard_expected;
    d->discard_called += s->discard_called;
    d->discard_mismatch += s->discard_mismatch;
    d->canary_bad += s->canary_bad;
    d->early_resume += s->early_resume;
    if (s->semantic && !d->semantic)
        memcpy(d->semantic_first, s->semantic_first, sizeof d->semantic_first);
    d->semantic += s->semantic;
    if (s->stream_bad && !d->stream_bad)
        memcpy(d->stream_first, s->stream_first, sizeof d->stream_first);
    d->stream_bad += s->stream_bad;
    d->hung |= s->hung;
}

long report_leaked(const stress_report *r)
{
    long n = 0;
    for (int i = 0; i < 6; i++)
        n += r->live[i] > 0 ? r->live[i] : -r->live[i];
    return n;
}

int report_failures(const stress_report *r, char *buf, size_t len)
{
    struct { int bad; const char *name; } inv[] = {
        {r->lost != 0, "lost"},
        {r->doubled != 0, "doubled"},
        {report_leaked(r) != 0, "leaked"},
        {r->discard_mismatch != 0 || r->discard_expected != r->discard_called, "discard"},
        {r->canary_bad != 0 || r->early_resume != 0, "memory-safety"},
        {r->semantic != 0, "semantics"},
        {r->stream_bad != 0, "stream"},
        {r->hung != 0, "hung"},
    };
    int n = 0;
    size_t off = 0;
    if (len)
        buf[0] = 0;
    for (size_t i = 0; i < sizeof inv / sizeof inv[0]; i++) {
        if (!inv[i].bad)
            continue;
        if (len > off)
            off += (size_t)snprintf(buf + off, len - off, "%s%s", n ? ", " : "", inv[i].name);
        n++;
    }
    return n;
}

void report_fmt_ns(char *buf, size_t len, double ns)
{
    if (ns < 1e3)
        snprintf(buf, len, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, len, "%.3g us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, len, "%.3g ms", ns / 1e6);
    else
        snprintf(buf, len, "%.3g s", ns / 1e9);
}

double report_throughput(const stress_report *r)
{
    return r->elapsed_s > 0 ? (double)r->ended / r->elapsed_s : 0.0;
}

static void print_lat_row(FILE *out, const char *name, uint64_t count, const hist *h)
{
    char cells[6][24];
    fprintf(out, "  %-18s %10llu", name, (unsigned long long)count);
    if (h->count == 0) {
        fprintf(out, "\n");
        return;
    }
    for (int i = 0; i < 4; i++)
        report_fmt_ns(cells[i], sizeof cells[i], (double)hist_percentile(h, stress_report_pcts[i]));
    report_fmt_ns(cells[4], sizeof cells[4], (double)h->max);
    report_fmt_ns(cells[5], sizeof cells[5], hist_mean(h));
    for (int i = 0; i < 6; i++)
        fprintf(out, " %10s", cells[i]);
    fprintf(out, "\n");
}

static void print_phases(FILE *out, const stress_phases *ph)
{
    if (!report_phases_present(ph))
        return;
    fprintf(out, "\n  phases of offloaded calls that ran and were awaited (measured by %s)\n",
            ph->source);
    for (int k = 0; k < PHASE_COUNT_; k++)
        print_lat_row(out, stress_phase_names[k], ph->h[k].count, &ph->h[k]);
}

void report_print(FILE *out, const stress_report *r)
{
    char failed[200];
    int nfail = report_failures(r, failed, sizeof failed);

    fprintf(out, "\ntt-stress report: %s on the %s backend\n  %s\n", r->scenario,
            r->backend[0] ? r->backend : "?", r->settings);
    fprintf(out, "  seed %llu (--seed %llu replays the same plans, as far as thread timing allows)\n",
            (unsigned long long)r->seed, (unsigned long long)r->seed);
    fprintf(out, "  elapsed %.2f s, submitted %llu, ended %llu, throughput %.0f ops/s\n\n",
            r->elapsed_s, (unsigned long long)r->submitted, (unsigned long long)r->ended,
            report_throughput(r));
    fprintf(out, "  %-18s %10s %10s %10s %10s %10s %10s %10s\n", "outcome", "count", "p50", "p90",
            "p99", "p99.9", "max", "mean");
    for (int k = 0; k < OUT_COUNT_; k++)
        print_lat_row(out, stress_outcome_names[k], r->outcomes[k], &r->lat[k]);
    print_lat_row(out, "all", r->all.count, &r->all);
    if (report_has_io_kinds(r)) {
        fprintf(out, "\n  io-ok by stream kind (a tail step of ~40 or ~200 ms in the tcp row alone is "
                     "a kernel TCP timer, not the runtime: see the README)\n");
        for (int k = 0; k < IO_KIND_COUNT_; k++) {
            char name[32];
            snprintf(name, sizeof name, "io-ok %s", stress_io_kind_names[k]);
            print_lat_row(out, name, r->io_kind[k].count, &r->io_kind[k]);
        }
    }
    print_phases(out, &r->phases);
    print_phases(out, &r->pool_phases);
    if (r->stuck_reported)
        fprintf(out, "\n  stuck blocking calls reported by the pool's detector: %llu\n",
                (unsigned long long)r->stuck_reported);
    if (r->rate > 0) {
        fprintf(out, "\n  open loop at %.6g/s: units of work (an operation, a group or an io episode)\n",
                r->rate);
        print_lat_row(out, "corrected", r->unit_corrected.count, &r->unit_corrected);
        print_lat_row(out, "uncorrected", r->unit_uncorrected.count, &r->unit_uncorrected);
        fprintf(out, "  (corrected: from the intended start, so a late start counts, as wrk2 does; "
                     "achieved %.6g units/s)\n",
                r->elapsed_s > 0 ? (double)r->unit_corrected.count / r->elapsed_s : 0.0);
    }

    if (r->pool.have)
        fprintf(out, "\n  pool: threads %u (peak %u), running %u (peak %u), idle %u, queued %llu "
                     "(peak %llu), completed %llu, cancelled %llu\n",
                r->pool.threads, r->pool.peak_threads, r->pool.running, r->pool.peak_running,
                r->pool.idle, (unsigned long long)r->pool.queued,
                (unsigned long long)r->pool.peak_queued, (unsigned long long)r->pool.completed,
                (unsigned long long)r->pool.cancelled);
    else
        fprintf(out, "\n  pool: each loop's default pool (no shared statistics)\n");
    if (r->groups)
        fprintf(out, "  groups: %llu joined, %llu failed\n", (unsigned long long)r->groups,
                (unsigned long long)r->groups_failed);
    if (r->cancel_too_late)
        fprintf(out, "  cancels of running jobs answered with the job's own result: %llu\n",
                (unsigned long long)r->cancel_too_late);
    if (r->io_streams || r->io_bytes)
        fprintf(out, "  io: %llu bytes checked in order, %llu streams closed with matching totals, "
                     "%llu connections, %llu cancels/timeouts lost the race to data (%llu of "
                     "them dropped by tt_wait_for returning its inner's result)\n",
                (unsigned long long)r->io_bytes, (unsigned long long)r->io_streams,
                (unsigned long long)r->io_connects, (unsigned long long)r->io_raced,
                (unsigned long long)r->io_cancel_dropped);

    fprintf(out, "\n  invariants:\n");
    fprintf(out, "    %-14s %6llu   every submitted operation ended\n", "lost",
            (unsigned long long)r->lost);
    fprintf(out, "    %-14s %6llu   no operation ended twice\n", "doubled",
            (unsigned long long)r->doubled);
    fprintf(out, "    %-14s %6ld  ", "leaked", report_leaked(r));
    for (int i = 0; i < 6; i++)
        fprintf(out, " %s %ld", stress_live_names[i], r->live[i]);
    fprintf(out, "\n    %-14s %6llu   expected %llu, called %llu (once per late result)\n",
            "discard", (unsigned long long)r->discard_mismatch,
            (unsigned long long)r->discard_expected, (unsigned long long)r->discard_called);
    fprintf(out, "    %-14s %6llu   canary damaged %llu, resumed before its job returned %llu\n",
            "memory-safety", (unsigned long long)(r->canary_bad + r->early_resume),
            (unsigned long long)r->canary_bad, (unsigned long long)r->early_resume);
    fprintf(out, "    %-14s %6llu%s%s\n", "semantics", (unsigned long long)r->semantic,
            r->semantic ? "   first: " : "", r->semantic ? r->semantic_first : "");
    fprintf(out, "    %-14s %6llu%s%s\n", "stream", (unsigned long long)r->stream_bad,
            r->stream_bad ? "   first: " : "   io bytes neither lost, duplicated nor reordered",
            r->stream_bad ? r->stream_first : "");
    if (r->hung)
        fprintf(out, "    %-14s %6d   the run did not finish in time\n", "hung", 1);
    if (r->inject[0])
        fprintf(out, "\n  fault injected: TT_STRESS_INJECT=%s\n", r->inject);
    if (nfail)
        fprintf(out, "\n  result: FAIL (%s)\n", failed);
    else
        fprintf(out, "\n  result: PASS\n");
}
