/* tt-stress latency histogram: log-linear buckets (HdrHistogram-like), exact below 128 ns and
 * within 1/64 (about 1.6 %) relative precision above, fixed size, no allocation on record.
 * Pure code with no tothread dependency so the unit tests can check its arithmetic exactly. */
#ifndef TT_STRESS_HISTOGRAM_H
#define TT_STRESS_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

/* 64 sub-buckets per power of two: values below 2 * 64 get one bucket each (exact); above, a
 * bucket [lo, lo + 2^(e-6)) spans 1/64 of its power of two. Covers every uint64_t. */
#define HIST_SUB_BITS 6
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS) * HIST_SUB_COUNT + HIST_SUB_COUNT)

typedef struct hist {
    uint64_t count;
    uint64_t min, max;
    long double sum; /* for the mean; long double keeps ns sums exact far beyond a soak's length */
    uint64_t buckets[HIST_BUCKETS];
} hist;

void hist_init(hist *h);
/* Records one value (nanoseconds, or any unsigned quantity). */
void hist_record(hist *h, uint64_t v);
/* Adds every count of src into dst (merging per-loop histograms). */
void hist_merge(hist *dst, const hist *src);

/* The bucket that holds v, and the [lower, upper] range of values a bucket stands for. */
size_t hist_index(uint64_t v);
uint64_t hist_bucket_lower(size_t index);
uint64_t hist_bucket_upper(size_t index); /* inclusive: the highest value equivalent to lower */

/* Nearest-rank percentile (0 < p <= 100): the highest value equivalent to the bucket holding the
 * ceil(p/100 * count)-th smallest value, clamped to the exact max. 0 for an empty histogram. */
uint64_t hist_percentile(const hist *h, double p);
double hist_mean(const hist *h);

#endif
