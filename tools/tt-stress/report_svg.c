/* tt-stress plot (--plot): latency by percentile as an SVG, one panel per family of curves —
 * outcomes, io-ok by stream kind, the phases of offloaded calls, the open loop's corrected and
 * uncorrected latency — each panel only when the run has its data. Both axes are logarithmic:
 * x is log10(1 / (1 - q)) so 90 %, 99 %, 99.9 % are evenly spaced, as in HdrHistogram plots. */
#include "report.h"

#include <math.h>
#include <string.h>

/* One panel's geometry: width, height, margins (room on the right for the legend). */
enum { SVG_W = 1040, PANEL_H = 520, SVG_L = 90, SVG_R = 270, SVG_T = 50, SVG_B = 60 };

/* One colour per outcome, chosen to stay apart for colour-blind readers; the other panels
 * reuse the first ones. */
static const char *const colors[OUT_COUNT_] = {
    "#1b9e77", "#d95f02", "#7570b3", "#0072b2", "#e6ab02", "#a6761d",
    "#66a61e", "#e7298a", "#666666",
};

typedef struct series {
    const char *name;
    const hist *h;
    const char *color;
    int dashed;
} series;

typedef struct plot_axes {
    double top;           /* the panel's y offset in the document */
    double xmax, ylo, yhi;
} plot_axes;

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
    return a->top + PANEL_H - SVG_B - (y - a->ylo) / (a->yhi - a->ylo) * (PANEL_H - SVG_T - SVG_B);
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

/* A panel at y offset top: title, grid, the curves of the non-empty series and their legend. */
static void svg_panel(FILE *out, double top, const char *title, const series *s, int n)
{
    plot_axes a = {top, 2, 3, 6};
    uint64_t most = 0, lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < n; i++) {
        if (!s[i].h->count)
            continue;
        most = s[i].h->count > most ? s[i].h->count : most;
        lo = s[i].h->min < lo ? s[i].h->min : lo;
        hi = s[i].h->max > hi ? s[i].h->max : hi;
    }
    /* x reaches the percentile the sample size can resolve: 10^x samples give 1 - 10^-x. */
    if (most > 1)
        a.xmax = ceil(log10((double)most));
    a.xmax = a.xmax < 2 ? 2 : a.xmax > 6 ? 6 : a.xmax;
    if (most) {
        a.ylo = floor(log10(lo < 1 ? 1.0 : (double)lo));
        a.yhi = ceil(log10(hi < 10 ? 10.0 : (double)hi));
    }
    if (a.yhi <= a.ylo)
        a.yhi = a.ylo + 1;

    fprintf(out, "<text x=\"%d\" y=\"%.0f\" font-size=\"16\" font-weight=\"bold\">%s</text>\n",
            SVG_L, top + 28, title);
    static const char *const xlabels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"};
    double y0 = top + SVG_T, y1 = top + PANEL_H - SVG_B;
    for (int i = 0; i <= (int)a.xmax; i++) {
        double x = SVG_L + i / a.xmax * (SVG_W - SVG_L - SVG_R);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n"
                     "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
                x, y0, x, y1, x, y1 + 20, xlabels[i]);
    }
    for (int d = (int)a.ylo; d <= (int)a.yhi; d++) {
        double y = py(&a, pow(10, d));
        char lab[24];
        report_fmt_ns(lab, sizeof lab, pow(10, d));
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                SVG_L, y, SVG_W - SVG_R, y, SVG_L - 8, y + 4, lab);
    }
    fprintf(out, "<rect x=\"%d\" y=\"%.0f\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
            SVG_L, y0, SVG_W - SVG_L - SVG_R, PANEL_H - SVG_T - SVG_B);
    fprintf(out, "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\">percentile (log scale of 1/(1-p))</text>\n",
            (SVG_L + SVG_W - SVG_R) / 2, y1 + 42);
    fprintf(out, "<text transform=\"translate(20,%.0f) rotate(-90)\" text-anchor=\"middle\">"
                 "latency (log scale)</text>\n", (y0 + y1) / 2);

    int row = 0;
    for (int i = 0; i < n; i++) {
        if (!s[i].h->count)
            continue;
        svg_curve(out, &a, s[i].h, s[i].color, s[i].dashed);
        double ly = y0 + 10 + row++ * 22;
        fprintf(out, "<line x1=\"%d\" y1=\"%.0f\" x2=\"%d\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"%s/>\n"
                     "<text x=\"%d\" y=\"%.0f\">%s (%llu)</text>\n",
                SVG_W - SVG_R + 12, ly, SVG_W - SVG_R + 36, ly, s[i].color,
                s[i].dashed ? " stroke-dasharray=\"6,4\"" : "", SVG_W - SVG_R + 42, ly + 4,
                s[i].name, (unsigned long long)s[i].h->count);
    }
    if (!most)
        fprintf(out, "<text x=\"%d\" y=\"%.0f\">no data</text>\n", SVG_L + 20, y0 + 30);
}

static void phases_panel(FILE *out, double top, const stress_phases *ph)
{
    series s[PHASE_COUNT_];
    for (int k = 0; k < PHASE_COUNT_; k++)
        s[k] = (series){stress_phase_names[k], &ph->h[k], colors[k], 0};
    char title[96];
    snprintf(title, sizeof title, "offloaded calls by phase (measured by %s)", ph->source);
    svg_panel(out, top, title, s, PHASE_COUNT_);
}

int report_svg(FILE *out, const stress_report *r)
{
    int has_kinds = report_has_io_kinds(r), has_phases = report_phases_present(&r->phases);
    int has_pool_phases = report_phases_present(&r->pool_phases);
    int panels = 1 + has_kinds + has_phases + has_pool_phases + (r->rate > 0);
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            SVG_W, PANEL_H * panels, SVG_W, PANEL_H * panels);
    char title[128];
    double top = 0;

    series s[OUT_COUNT_ + 1];
    int n = 0;
    for (int k = 0; k < OUT_COUNT_; k++)
        s[n++] = (series){stress_outcome_names[k], &r->lat[k], colors[k], 0};
    s[n++] = (series){"all", &r->all, "#000", 1};
    snprintf(title, sizeof title, "tt-stress %s: latency by percentile", r->scenario);
    svg_panel(out, top, title, s, n);
    top += PANEL_H;

    if (has_kinds) {
        n = 0;
        for (int k = 0; k < IO_KIND_COUNT_; k++)
            s[n++] = (series){stress_io_kind_names[k], &r->io_kind[k], colors[6 + k], 0};
        svg_panel(out, top, "io-ok by stream kind", s, n);
        top += PANEL_H;
    }
    if (has_phases) {
        phases_panel(out, top, &r->phases);
        top += PANEL_H;
    }
    if (has_pool_phases) {
        phases_panel(out, top, &r->pool_phases);
        top += PANEL_H;
    }
    if (r->rate > 0) {
        s[0] = (series){"corrected", &r->unit_corrected, colors[1], 0};
        s[1] = (series){"uncorrected", &r->unit_uncorrected, colors[2], 1};
        snprintf(title, sizeof title, "open loop at %.6g/s: units of work", r->rate);
        svg_panel(out, top, title, s, 2);
    }
    fprintf(out, "</svg>\n");
    return ferror(out) ? -1 : 0;
}
