/* The log-linear latency histogram behind the pool's and the loop's latency reports: recording is
 * an inline in internal.h (a few instructions on data its owner already holds), reading is here:
 * sealing (count and max, left out of the hot path), percentiles, merging, bucket ranges. */
#include "internal.h"

#define SUB (1u << TT_HIST_SUB_BITS)

static uint64_t bucket_lower(size_t i)
{
    if (i < 2 * SUB)
        return i;
    unsigned shift = (unsigned)(i / SUB) - 1;
    return (uint64_t)(i % SUB + SUB) << shift;
}

static uint64_t bucket_upper(size_t i)
{
    if (i < 2 * SUB)
        return i;
    unsigned shift = (unsigned)(i / SUB) - 1;
    return bucket_lower(i) + (((uint64_t)1 << shift) - 1);
}

void hist_seal(tt_hist *h)
{
    uint64_t n = 0;
    size_t top = 0;
    for (size_t i = 0; i < TT_HIST_BUCKETS; i++)
        if (h->buckets[i]) {
            n += h->buckets[i];
            top = i;
        }
    h->count = n;
    h->max = n ? bucket_upper(top) : 0;
}

void hist_shared_add_to(tt_hist *dst, const hist_shared *src)
{
    dst->sum += atomic_load_explicit(&src->sum, memory_order_relaxed);
    for (size_t i = 0; i < TT_HIST_BUCKETS; i++)
        dst->buckets[i] += atomic_load_explicit(&src->buckets[i], memory_order_relaxed);
}

int tt_hist_bucket_range(size_t i, uint64_t *lo, uint64_t *hi)
{
    if (i >= TT_HIST_BUCKETS)
        return -EINVAL;
    if (lo)
        *lo = bucket_lower(i);
    if (hi)
        *hi = bucket_upper(i);
    return 0;
}

int64_t tt_hist_percentile(const tt_hist *h, double p)
{
    if (!h || !(p > 0 && p <= 100))
        return -EINVAL;
    if (!h->count)
        return 0;
    double r = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < TT_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = bucket_upper(i);
            v = v > h->max ? h->max : v;
            return v > INT64_MAX ? INT64_MAX : (int64_t)v;
        }
    }
    return h->max > INT64_MAX ? INT64_MAX : (int64_t)h->max; /* counts and buckets disagree */
}

int tt_hist_merge(tt_hist *dst, const tt_hist *src)
{
    if (!dst || !src)
        return -EINVAL;
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
    for (size_t i = 0; i < TT_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    return 0;
}
