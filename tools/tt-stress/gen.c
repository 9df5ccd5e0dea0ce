/* tt-stress generator: per-worker random streams, operation plans and the open-loop schedule.
 * Every choice of a plan is drawn here in a fixed order, so a plan sequence is a function of
 * (seed, loop, worker) alone. */
#include "gen.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void stress_rng_init(stress_rng *r, uint64_t seed, unsigned loop, unsigned stream)
{
    uint64_t x = seed;
    x = splitmix64(&x) ^ ((uint64_t)loop << 32 | stream);
    r->s = splitmix64(&x);
    if (!r->s)
        r->s = 1;
}

stress_rng stress_rng_split(stress_rng *parent)
{
    uint64_t x = stress_rand(parent);
    stress_rng c = {splitmix64(&x)};
    if (!c.s)
        c.s = 1;
    return c;
}

uint64_t stress_rand(stress_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

double stress_rand01(stress_rng *r)
{
    return (double)(stress_rand(r) >> 11) * (1.0 / 9007199254740992.0);
}

int stress_coin(stress_rng *r, double p)
{
    /* Always one draw, so a probability of 0 or 1 does not shift the rest of the stream. */
    double u = stress_rand01(r);
    return p > 0 && u < p;
}

int64_t stress_plan_cost(stress_rng *r, const stress_config *cfg)
{
    int64_t mean = cfg->mean_ns;
    switch (cfg->cost) {
    case COST_UNIFORM:
        return (int64_t)(stress_rand01(r) * 2.0 * (double)mean);
    case COST_EXP: {
        /* Exponential, capped at 50 means so one sample cannot stall a short run. */
        double v = -log(1.0 - stress_rand01(r)) * (double)mean;
        return v > 50.0 * (double)mean ? 50 * mean : (int64_t)v;
    }
    default:
        return mean;
    }
}

int stress_plan_abandon(stress_rng *r, const stress_config *cfg)
{
    switch (cfg->mode) {
    case MODE_ABANDON:
        return 1;
    case MODE_BOTH:
        return stress_coin(r, 0.5);
    default:
        return 0;
    }
}

void stress_plan_offload(stress_rng *r, const stress_config *cfg, double cancel_rate, stress_plan *p)
{
    int64_t mean = cfg->mean_ns > 0 ? cfg->mean_ns : 1000;
    p->cancel = stress_coin(r, cancel_rate);
    p->abandon = stress_plan_abandon(r, cfg);
    p->fail = stress_coin(r, cfg->error_rate);
    p->cost_ns = stress_plan_cost(r, cfg);
    p->how = WAIT_AWAIT;
    p->timeout_ns = 0;
    /* Cancel points: one in eight right after submission (queued when the pool is busy), the
     * rest over [0, 2.5 * mean], landing while the job runs or as it finishes. */
    p->cancel_at_once = p->cancel && stress_rand(r) % 8 == 0;
    p->cancel_delay_ns = p->cancel && !p->cancel_at_once
                         ? (int64_t)(stress_rand01(r) * 2.5 * (double)mean) : 0;
}

void stress_plan_timeout(stress_rng *r, const stress_config *cfg, stress_plan *p)
{
    int64_t mean = cfg->mean_ns > 0 ? cfg->mean_ns : 1000;
    p->cancel = p->cancel_at_once = 0;
    p->cancel_delay_ns = 0;
    p->abandon = stress_plan_abandon(r, cfg);
    p->fail = stress_coin(r, cfg->error_rate);
    p->cost_ns = stress_plan_cost(r, cfg);
    p->how = stress_coin(r, 0.5) ? WAIT_FOR : WAIT_SCOPE;
    /* Deadlines spread over the same range as the jobs' costs, so both win often; one in
     * sixteen is already due. */
    p->timeout_ns = (int64_t)(stress_rand01(r) * 2.0 * (double)mean);
    if (stress_rand(r) % 16 == 0)
        p->timeout_ns = 0;
}

void stress_pacer_init(stress_pacer *p, double rate, int64_t t0, unsigned workers, unsigned index)
{
    p->rate = rate;
    p->t0 = t0;
    p->arrival = index;
    p->step = workers ? workers : 1;
    p->intended = p->started = 0;
}

int64_t stress_pacer_intended(const stress_pacer *p)
{
    if (p->rate <= 0)
        return INT64_MIN; /* closed loop: never early */
    /* From the arrival's index, not by adding intervals: no drift over a long run. */
    return p->t0 + (int64_t)llround((double)p->arrival * 1e9 / p->rate);
}

void stress_pacer_start(stress_pacer *p, int64_t now)
{
    int64_t want = stress_pacer_intended(p);
    p->started = now;
    p->intended = p->rate > 0 && want < now ? want : now;
}

void stress_pacer_end(stress_pacer *p, int64_t end, int64_t *corrected, int64_t *uncorrected)
{
    *corrected = end - p->intended;
    *uncorrected = end - p->started;
    p->arrival += p->step;
}
