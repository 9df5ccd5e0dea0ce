/* tt-stress machine-readable reports: the JSON document (--json, read back by `tt-stress
 * compare`) and the same numbers in the OpenMetrics text exposition format (--openmetrics) for
 * Prometheus and its kin. Both are pure functions of a stress_report. */
#include "report.h"

#include <string.h>

/* JSON strings here are settings and messages we wrote ourselves, but escape anyway. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_hist(FILE *out, const hist *h)
{
    fprintf(out, "{\"count\": %llu", (unsigned long long)h->count);
    if (h->count) {
        fprintf(out, ", \"min\": %llu, \"mean\": %.1f", (unsigned long long)h->min, hist_mean(h));
        static const char *const names[] = {"p50", "p90", "p99", "p99.9"};
        for (int i = 0; i < 4; i++)
            fprintf(out, ", \"%s\": %llu", names[i],
                    (unsigned long long)hist_percentile(h, stress_report_pcts[i]));
        fprintf(out, ", \"max\": %llu", (unsigned long long)h->max);
    }
    fprintf(out, "}");
}

/* A phase set as an object with its source, or null when it is empty. */
static void json_phases(FILE *out, const stress_phases *ph)
{
    if (!report_phases_present(ph)) {
        fprintf(out, "null");
        return;
    }
    fprintf(out, "{\n    \"source\": ");
    json_str(out, ph->source);
    for (int k = 0; k < PHASE_COUNT_; k++) {
        fprintf(out, ",\n    \"%s\": ", stress_phase_names[k]);
        json_hist(out, &ph->h[k]);
    }
    fprintf(out, "\n  }");
}

int report_json(FILE *out, const stress_report *r)
{
    char failed[200];
    int nfail = report_failures(r, failed, sizeof failed);
    fprintf(out, "{\n  \"tool\": \"tt-stress\",\n  \"scenario\": ");
    json_str(out, r->scenario);
    fprintf(out, ",\n  \"backend\": ");
    json_str(out, r->backend);
    fprintf(out, ",\n  \"settings\": ");
    json_str(out, r->settings);
    fprintf(out, ",\n  \"seed\": %llu", (unsigned long long)r->seed);
    fprintf(out, ",\n  \"elapsed_s\": %.6f,\n  \"submitted\": %llu,\n  \"ended\": %llu,\n"
                 "  \"throughput_ops_s\": %.1f,\n  \"outcomes\": {",
            r->elapsed_s, (unsigned long long)r->submitted, (unsigned long long)r->ended,
            report_throughput(r));
    for (int k = 0; k < OUT_COUNT_; k++)
        fprintf(out, "%s\"%s\": %llu", k ? ", " : "", stress_outcome_names[k],
                (unsigned long long)r->outcomes[k]);
    fprintf(out, "},\n  \"latency_ns\": {\n    \"all\": ");
    json_hist(out, &r->all);
    for (int k = 0; k < OUT_COUNT_; k++) {
        fprintf(out, ",\n    \"%s\": ", stress_outcome_names[k]);
        json_hist(out, &r->lat[k]);
    }
    fprintf(out, "\n  },\n  \"latency_by_stream_ns\": {");
    for (int k = 0; k < IO_KIND_COUNT_; k++) {
        fprintf(out, "%s\n    \"%s\": ", k ? "," : "", stress_io_kind_names[k]);
        json_hist(out, &r->io_kind[k]);
    }
    fprintf(out, "\n  },\n  \"phases_ns\": ");
    json_phases(out, &r->phases);
    fprintf(out, ",\n  \"pool_phases_ns\": ");
    json_phases(out, &r->pool_phases);
    fprintf(out, ",\n  \"stuck_calls\": %llu", (unsigned long long)r->stuck_reported);
    fprintf(out, ",\n  \"open_loop\": ");
    if (r->rate > 0) {
        fprintf(out, "{\n    \"rate_per_s\": %.6g,\n    \"achieved_per_s\": %.1f,\n"
                     "    \"corrected_ns\": ",
                r->rate, r->elapsed_s > 0 ? (double)r->unit_corrected.count / r->elapsed_s : 0.0);
        json_hist(out, &r->unit_corrected);
        fprintf(out, ",\n    \"uncorrected_ns\": ");
        json_hist(out, &r->unit_uncorrected);
        fprintf(out, "\n  }");
    } else {
        fprintf(out, "null");
    }
    fprintf(out, ",\n  \"pool\": ");
    if (r->pool.have)
        fprintf(out, "{\"threads\": %u, \"idle\": %u, \"running\": %u, \"queued\": %llu, "
                     "\"completed\": %llu, \"cancelled\": %llu, \"peak_threads\": %u, "
                     "\"peak_running\": %u, \"peak_queued\": %llu}",
                r->pool.threads, r->pool.idle, r->pool.running,
                (unsigned long long)r->pool.queued, (unsigned long long)r->pool.completed,
                (unsigned long long)r->pool.cancelled, r->pool.peak_threads,
                r->pool.peak_running, (unsigned long long)r->pool.peak_queued);
    else
        fprintf(out, "null");
    fprintf(out, ",\n  \"groups\": {\"joined\": %llu, \"failed\": %llu},\n"
                 "  \"cancel_too_late\": %llu,\n"
                 "  \"io\": {\"bytes\": %llu, \"streams\": %llu, \"connects\": %llu, \"raced\": %llu, "
                 "\"cancel_dropped_by_wait_for\": %llu},\n"
                 "  \"invariants\": {\n",
            (unsigned long long)r->groups, (unsigned long long)r->groups_failed,
            (unsigned long long)r->cancel_too_late, (unsigned long long)r->io_bytes,
            (unsigned long long)r->io_streams, (unsigned long long)r->io_connects,
            (unsigned long long)r->io_raced, (unsigned long long)r->io_cancel_dropped);
    fprintf(out, "    \"lost\": %llu,\n    \"doubled\": %llu,\n    \"leaked\": {",
            (unsigned long long)r->lost, (unsigned long long)r->doubled);
    for (int i = 0; i < 6; i++)
        fprintf(out, "%s\"%s\": %ld", i ? ", " : "", stress_live_names[i], r->live[i]);
    fprintf(out, "},\n    \"discard\": {\"expected\": %llu, \"called\": %llu, \"mismatch\": %llu},\n"
                 "    \"canary_bad\": %llu,\n    \"early_resume\": %llu,\n    \"semantic\": %llu,\n"
                 "    \"semantic_first\": ",
            (unsigned long long)r->discard_expected, (unsigned long long)r->discard_called,
            (unsigned long long)r->discard_mismatch, (unsigned long long)r->canary_bad,
            (unsigned long long)r->early_resume, (unsigned long long)r->semantic);
    if (r->semantic)
        json_str(out, r->semantic_first);
    else
        fprintf(out, "null");
    fprintf(out, ",\n    \"stream\": %llu,\n    \"stream_first\": ", (unsigned long long)r->stream_bad);
    if (r->stream_bad)
        json_str(out, r->stream_first);
    else
        fprintf(out, "null");
    fprintf(out, ",\n    \"hung\": %s\n  },\n  \"inject\": ", r->hung ? "true" : "false");
    if (r->inject[0])
        json_str(out, r->inject);
    else
        fprintf(out, "null");
    fprintf(out, ",\n  \"failed\": [");
    /* failed is "a, b, c": re-emit as a JSON list. */
    if (nfail) {
        char copy[200];
        snprintf(copy, sizeof copy, "%s", failed);
        int first = 1;
        for (char *tok = strtok(copy, ", "); tok; tok = strtok(NULL, ", ")) {
            fprintf(out, "%s", first ? "" : ", ");
            json_str(out, tok);
            first = 0;
        }
    }
    fprintf(out, "],\n  \"pass\": %s\n}\n", nfail ? "false" : "true");
    return ferror(out) ? -1 : 0;
}


/* ---- OpenMetrics text format: families with # TYPE/# UNIT/# HELP, summaries for latency
 * (quantile 1 is the max), counters with _total, the run's identity as an info metric, and
 * "# EOF" last. Label values are escaped as the format requires. */

static void om_label_value(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void om_family(FILE *out, const char *name, const char *type, const char *unit,
                      const char *help)
{
    fprintf(out, "# TYPE %s %s\n", name, type);
    if (unit)
        fprintf(out, "# UNIT %s %s\n", name, unit);
    fprintf(out, "# HELP %s %s\n", name, help);
}

/* One summary's samples: labels is `key="value",...` without braces (already escaped). */
static void om_summary(FILE *out, const char *name, const char *labels, const hist *h)
{
    static const char *const q[] = {"0.5", "0.9", "0.99", "0.999"};
    if (h->count) {
        for (int i = 0; i < 4; i++)
            fprintf(out, "%s{%s,quantile=\"%s\"} %.9g\n", name, labels, q[i],
                    (double)hist_percentile(h, stress_report_pcts[i]) / 1e9);
        fprintf(out, "%s{%s,quantile=\"1\"} %.9g\n", name, labels, (double)h->max / 1e9);
    }
    fprintf(out, "%s_sum{%s} %.9g\n", name, labels, (double)(h->sum / 1e9L));
    fprintf(out, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

/* A phase set's samples of the tt_stress_phase_seconds family, labelled with its source. */
static void om_phases(FILE *out, const stress_phases *ph)
{
    char labels[96];
    for (int k = 0; k < PHASE_COUNT_; k++) {
        /* The source is a name we chose (no quotes or backslashes). */
        snprintf(labels, sizeof labels, "phase=\"%s\",source=\"%s\"", stress_phase_names[k],
                 ph->source);
        om_summary(out, "tt_stress_phase_seconds", labels, &ph->h[k]);
    }
}

int report_openmetrics(FILE *out, const stress_report *r)
{
    char labels[96];
    om_family(out, "tt_stress_run", "info", NULL, "The run: scenario, backend, seed and settings.");
    fprintf(out, "tt_stress_run_info{scenario=");
    om_label_value(out, r->scenario);
    fprintf(out, ",backend=");
    om_label_value(out, r->backend);
    fprintf(out, ",seed=\"%llu\",settings=", (unsigned long long)r->seed);
    om_label_value(out, r->settings);
    fprintf(out, "} 1\n");

    om_family(out, "tt_stress_elapsed_seconds", "gauge", "seconds", "Wall time of the run.");
    fprintf(out, "tt_stress_elapsed_seconds %.6f\n", r->elapsed_s);
    om_family(out, "tt_stress_operations", "counter", NULL, "Operations submitted and ended.");
    fprintf(out, "tt_stress_operations_total{state=\"submitted\"} %llu\n"
                 "tt_stress_operations_total{state=\"ended\"} %llu\n",
            (unsigned long long)r->submitted, (unsigned long long)r->ended);
    om_family(out, "tt_stress_throughput", "gauge", NULL, "Ended operations per second.");
    fprintf(out, "tt_stress_throughput %.1f\n", report_throughput(r));
    om_family(out, "tt_stress_outcomes", "counter", NULL, "Operations by outcome.");
    for (int k = 0; k < OUT_COUNT_; k++)
        fprintf(out, "tt_stress_outcomes_total{outcome=\"%s\"} %llu\n", stress_outcome_names[k],
                (unsigned long long)r->outcomes[k]);

    om_family(out, "tt_stress_latency_seconds", "summary", "seconds",
              "Submit to the awaiting side seeing the outcome, by outcome (quantile 1: max).");
    om_summary(out, "tt_stress_latency_seconds", "outcome=\"all\"", &r->all);
    for (int k = 0; k < OUT_COUNT_; k++) {
        snprintf(labels, sizeof labels, "outcome=\"%s\"", stress_outcome_names[k]);
        om_summary(out, "tt_stress_latency_seconds", labels, &r->lat[k]);
    }
    if (report_has_io_kinds(r)) {
        om_family(out, "tt_stress_io_latency_seconds", "summary", "seconds",
                  "Latency of io calls that returned data, by stream kind.");
        for (int k = 0; k < IO_KIND_COUNT_; k++) {
            snprintf(labels, sizeof labels, "kind=\"%s\"", stress_io_kind_names[k]);
            om_summary(out, "tt_stress_io_latency_seconds", labels, &r->io_kind[k]);
        }
    }
    if (report_phases_present(&r->phases) || report_phases_present(&r->pool_phases)) {
        om_family(out, "tt_stress_phase_seconds", "summary", "seconds",
                  "Offloaded calls: queue wait, run time and resume latency, by who measured them.");
        if (report_phases_present(&r->phases))
            om_phases(out, &r->phases);
        if (report_phases_present(&r->pool_phases))
            om_phases(out, &r->pool_phases);
    }
    om_family(out, "tt_stress_stuck_calls", "counter", NULL,
              "Blocking calls the pool's stuck-call detector reported.");
    fprintf(out, "tt_stress_stuck_calls_total %llu\n", (unsigned long long)r->stuck_reported);
    if (r->rate > 0) {
        om_family(out, "tt_stress_open_loop_rate", "gauge", NULL, "Open loop: the intended arrivals per second.");
        fprintf(out, "tt_stress_open_loop_rate %.6g\n", r->rate);
        om_family(out, "tt_stress_unit_latency_seconds", "summary", "seconds",
                  "Open loop: units of work from their intended start (corrected) or real start.");
        om_summary(out, "tt_stress_unit_latency_seconds", "correction=\"corrected\"", &r->unit_corrected);
        om_summary(out, "tt_stress_unit_latency_seconds", "correction=\"uncorrected\"", &r->unit_uncorrected);
    }
    if (r->pool.have) {
        om_family(out, "tt_stress_pool_jobs", "counter", NULL, "The shared pool's jobs at the end.");
        fprintf(out, "tt_stress_pool_jobs_total{state=\"completed\"} %llu\n"
                     "tt_stress_pool_jobs_total{state=\"cancelled\"} %llu\n",
                (unsigned long long)r->pool.completed, (unsigned long long)r->pool.cancelled);
        om_family(out, "tt_stress_pool_peak", "gauge", NULL, "The shared pool's peaks during the run.");
        fprintf(out, "tt_stress_pool_peak{what=\"threads\"} %u\ntt_stress_pool_peak{what=\"running\"} %u\n"
                     "tt_stress_pool_peak{what=\"queued\"} %llu\n",
                r->pool.peak_threads, r->pool.peak_running, (unsigned long long)r->pool.peak_queued);
    }

    om_family(out, "tt_stress_invariant_violations", "gauge", NULL,
              "Violations of each invariant (all 0 in a passing run).");
    const struct { const char *name; uint64_t v; } inv[] = {
        {"lost", r->lost}, {"doubled", r->doubled}, {"leaked", (uint64_t)report_leaked(r)},
        {"discard", r->discard_mismatch + (r->discard_expected > r->discard_called
                                           ? r->discard_expected - r->discard_called
                                           : r->discard_called - r->discard_expected)},
        {"memory-safety", r->canary_bad + r->early_resume}, {"semantics", r->semantic},
        {"stream", r->stream_bad}, {"hung", (uint64_t)(r->hung != 0)},
    };
    for (size_t i = 0; i < sizeof inv / sizeof inv[0]; i++)
        fprintf(out, "tt_stress_invariant_violations{invariant=\"%s\"} %llu\n", inv[i].name,
                (unsigned long long)inv[i].v);
    char failed[200];
    om_family(out, "tt_stress_pass", "gauge", NULL, "1 when every invariant held.");
    fprintf(out, "tt_stress_pass %d\n# EOF\n", report_failures(r, failed, sizeof failed) == 0);
    return ferror(out) ? -1 : 0;
}
