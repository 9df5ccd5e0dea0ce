/* tt-stress latency histogram: log-linear bucket arithmetic, recording, merging, percentiles.
 * The index is computed with one count-leading-zeros, so recording costs a few instructions and
 * never allocates: it runs on the measured path. */
#include "histogram.h"

#include <math.h>
#include <string.h>

void hist_init(hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

size_t hist_index(uint64_t v)
{
    /* Values below 2 * SUB_COUNT are their own bucket. Above, e = floor(log2 v) >= 7 and the top
     * SUB_BITS + 1 bits of v (64..127) pick the sub-bucket: index = (e - 6) * 64 + sub, which
     * continues the exact range without a gap (v = 128 -> 128). */
    if (v < 2 * HIST_SUB_COUNT)
        return (size_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - HIST_SUB_BITS;
    return (size_t)shift * HIST_SUB_COUNT + (size_t)(v >> shift);
}

uint64_t hist_bucket_lower(size_t index)
{
    if (index < 2 * HIST_SUB_COUNT)
        return index;
    size_t shift = index / HIST_SUB_COUNT - 1;
    uint64_t sub = index % HIST_SUB_COUNT + HIST_SUB_COUNT;
    return sub << shift;
}

uint64_t hist_bucket_upper(size_t index)
{
    if (index < 2 * HIST_SUB_COUNT)
        return index;
    size_t shift = index / HIST_SUB_COUNT - 1;
    return hist_bucket_lower(index) + ((uint64_t)1 << shift) - 1;
}

void hist_record(hist *h, uint64_t v)
{
    h->buckets[hist_index(v)]++;
    h->count++;
    h->sum += (long double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(hist *dst, const hist *src)
{
    if (src->count == 0)
        return;
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p >= 100.0)
        return h->max;
    if (p < 0)
        p = 0;
    /* Nearest rank, computed with a small tolerance so that 99.9 % of 1000 is rank 999 and not
     * 1000 because of binary rounding. */
    double exact = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)ceil(exact - 1e-9);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_upper(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const hist *h)
{
    return h->count ? (double)(h->sum / (long double)h->count) : 0.0;
}
