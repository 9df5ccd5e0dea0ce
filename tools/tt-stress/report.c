/* tt-stress report rendering: the end-of-run table, the JSON document and the SVG percentile
 * plot, plus the verdict (which invariants failed). Everything is computed from a stress_report
 * value; nothing here touches the runtime. */
#include "report.h"

#include <math.h>
#include <string.h>

const char *const stress_outcome_names[OUT_COUNT_] = {
    "ok", "error", "cancelled-queued", "cancelled-running", "abandoned", "timed-out",
    "io-ok", "io-cancelled", "io-timed-out",
};

static const char *const live_names[6] = {"futures", "tasks", "stacks", "jobs", "loops", "pools"};

/* One colour per outcome in the plot, chosen to stay apart for colour-blind readers. */
static const char *const outcome_colors[OUT_COUNT_] = {
    "#1b9e77", "#d95f02", "#7570b3", "#0072b2", "#e6ab02", "#a6761d",
    "#66a61e", "#e7298a", "#666666",
};

static const double report_pcts[] = {50, 90, 99, 99.9};

void report_init(stress_report *r)
{
    memset(r, 0, sizeof *r);
    for (int k = 0; k < OUT_COUNT_; k++)
        hist_init(&r->lat[k]);
    hist_init(&r->all);
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

static double throughput(const stress_report *r)
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
        report_fmt_ns(cells[i], sizeof cells[i], (double)hist_percentile(h, report_pcts[i]));
    report_fmt_ns(cells[4], sizeof cells[4], (double)h->max);
    report_fmt_ns(cells[5], sizeof cells[5], hist_mean(h));
    for (int i = 0; i < 6; i++)
        fprintf(out, " %10s", cells[i]);
    fprintf(out, "\n");
}

void report_print(FILE *out, const stress_report *r)
{
    char failed[200];
    int nfail = report_failures(r, failed, sizeof failed);

    fprintf(out, "\ntt-stress report: %s\n  %s\n", r->scenario, r->settings);
    fprintf(out, "  elapsed %.2f s, submitted %llu, ended %llu, throughput %.0f ops/s\n\n",
            r->elapsed_s, (unsigned long long)r->submitted, (unsigned long long)r->ended,
            throughput(r));
    fprintf(out, "  %-18s %10s %10s %10s %10s %10s %10s %10s\n", "outcome", "count", "p50", "p90",
            "p99", "p99.9", "max", "mean");
    for (int k = 0; k < OUT_COUNT_; k++)
        print_lat_row(out, stress_outcome_names[k], r->outcomes[k], &r->lat[k]);
    print_lat_row(out, "all", r->all.count, &r->all);

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
        fprintf(out, " %s %ld", live_names[i], r->live[i]);
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
                    (unsigned long long)hist_percentile(h, report_pcts[i]));
        fprintf(out, ", \"max\": %llu", (unsigned long long)h->max);
    }
    fprintf(out, "}");
}

int report_json(FILE *out, const stress_report *r)
{
    char failed[200];
    int nfail = report_failures(r, failed, sizeof failed);
    fprintf(out, "{\n  \"tool\": \"tt-stress\",\n  \"scenario\": ");
    json_str(out, r->scenario);
    fprintf(out, ",\n  \"settings\": ");
    json_str(out, r->settings);
    fprintf(out, ",\n  \"elapsed_s\": %.6f,\n  \"submitted\": %llu,\n  \"ended\": %llu,\n"
                 "  \"throughput_ops_s\": %.1f,\n  \"outcomes\": {",
            r->elapsed_s, (unsigned long long)r->submitted, (unsigned long long)r->ended,
            throughput(r));
    for (int k = 0; k < OUT_COUNT_; k++)
        fprintf(out, "%s\"%s\": %llu", k ? ", " : "", stress_outcome_names[k],
                (unsigned long long)r->outcomes[k]);
    fprintf(out, "},\n  \"latency_ns\": {\n    \"all\": ");
    json_hist(out, &r->all);
    for (int k = 0; k < OUT_COUNT_; k++) {
        fprintf(out, ",\n    \"%s\": ", stress_outcome_names[k]);
        json_hist(out, &r->lat[k]);
    }
    fprintf(out, "\n  },\n  \"pool\": ");
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
        fprintf(out, "%s\"%s\": %ld", i ? ", " : "", live_names[i], r->live[i]);
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

/* ---- SVG: latency by percentile, one step curve per outcome, both axes logarithmic. The x
 * axis is log10(1 / (1 - q)) so 90 %, 99 %, 99.9 % are evenly spaced, as in HdrHistogram plots. */

enum { SVG_W = 1040, SVG_H = 540, SVG_L = 90, SVG_R = 270, SVG_T = 50, SVG_B = 70 }; /* room for the legend */

typedef struct plot_axes { double xmax, ylo, yhi; } plot_axes;

static double px(const plot_axes *a, double q)
{
    double x = q >= 1.0 ? a->xmax : log10(1.0 / (1.0 - q));
    if (x > a->xmax)
        x = a->xmax;
    return SVG_L + x / a->xmax * (SVG_W - SVG_L - SVG_R);
}

static double py(const plot_axes *a, double ns)
{
    double y = log10(ns < 1 ? 1 : ns);
    return SVG_H - SVG_B - (y - a->ylo) / (a->yhi - a->ylo) * (SVG_H - SVG_T - SVG_B);
}

static void svg_curve(FILE *out, const plot_axes *a, const hist *h, const char *color, int dashed)
{
    fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
            dashed ? " stroke-dasharray=\"6,4\"" : "");
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        if (!h->buckets[i])
            continue;
        uint64_t v = hist_bucket_upper(i);
        if (v > h->max)
            v = h->max;
        double q0 = (double)seen / (double)h->count;
        seen += h->buckets[i];
        double q1 = (double)seen / (double)h->count;
        fprintf(out, "%.1f,%.1f %.1f,%.1f ", px(a, q0), py(a, (double)v), px(a, q1), py(a, (double)v));
    }
    fprintf(out, "\"/>\n");
}

int report_svg(FILE *out, const stress_report *r)
{
    plot_axes a;
    /* x reaches the percentile the sample size can resolve: 10^x samples give 1 - 10^-x. */
    a.xmax = r->all.count > 1 ? ceil(log10((double)r->all.count)) : 1;
    if (a.xmax < 2)
        a.xmax = 2;
    if (a.xmax > 6)
        a.xmax = 6;
    uint64_t lo = r->all.count ? r->all.min : 1000, hi = r->all.count ? r->all.max : 1000000;
    a.ylo = floor(log10(lo < 1 ? 1.0 : (double)lo));
    a.yhi = ceil(log10(hi < 10 ? 10.0 : (double)hi));
    if (a.yhi <= a.ylo)
        a.yhi = a.ylo + 1;

    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(out, "<text x=\"%d\" y=\"28\" font-size=\"16\" font-weight=\"bold\">tt-stress %s: "
                 "latency by percentile</text>\n", SVG_L, r->scenario);

    /* Grid and tick labels. */
    static const char *const xlabels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"};
    for (int i = 0; i <= (int)a.xmax; i++) {
        double x = SVG_L + i / a.xmax * (SVG_W - SVG_L - SVG_R);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                     "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                x, SVG_T, x, SVG_H - SVG_B, x, SVG_H - SVG_B + 20, xlabels[i]);
    }
    for (int d = (int)a.ylo; d <= (int)a.yhi; d++) {
        double y = py(&a, pow(10, d));
        char lab[24];
        report_fmt_ns(lab, sizeof lab, pow(10, d));
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                SVG_L, y, SVG_W - SVG_R, y, SVG_L - 8, y + 4, lab);
    }
    fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
            SVG_L, SVG_T, SVG_W - SVG_L - SVG_R, SVG_H - SVG_T - SVG_B);
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">percentile (log scale of 1/(1-p))</text>\n",
            (SVG_L + SVG_W - SVG_R) / 2, SVG_H - 20);
    fprintf(out, "<text transform=\"translate(20,%d) rotate(-90)\" text-anchor=\"middle\">"
                 "latency (log scale)</text>\n", (SVG_T + SVG_H - SVG_B) / 2);

    /* Curves and legend. */
    int row = 0;
    for (int k = 0; k < OUT_COUNT_; k++) {
        if (!r->lat[k].count)
            continue;
        svg_curve(out, &a, &r->lat[k], outcome_colors[k], 0);
        int ly = SVG_T + 10 + row++ * 22;
        fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>\n"
                     "<text x=\"%d\" y=\"%d\">%s (%llu)</text>\n",
                SVG_W - SVG_R + 12, ly, SVG_W - SVG_R + 36, ly, outcome_colors[k],
                SVG_W - SVG_R + 42, ly + 4, stress_outcome_names[k],
                (unsigned long long)r->lat[k].count);
    }
    if (r->all.count) {
        svg_curve(out, &a, &r->all, "#000", 1);
        int ly = SVG_T + 10 + row * 22;
        fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\" stroke-width=\"2\" "
                     "stroke-dasharray=\"6,4\"/>\n<text x=\"%d\" y=\"%d\">all (%llu)</text>\n",
                SVG_W - SVG_R + 12, ly, SVG_W - SVG_R + 36, ly, SVG_W - SVG_R + 42, ly + 4,
                (unsigned long long)r->all.count);
    } else {
        fprintf(out, "<text x=\"%d\" y=\"%d\">no data</text>\n", SVG_L + 20, SVG_T + 30);
    }
    fprintf(out, "</svg>\n");
    return ferror(out) ? -1 : 0;
}
