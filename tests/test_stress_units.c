/* tt-stress's pure parts: argument parsing (every bad-argument case, with its message), the
 * log-linear histogram's arithmetic (bucket boundaries, exact percentiles of known data), the
 * generator (seeded plans replay exactly; the open-loop schedule's corrected latency on a
 * simulated clock), the report's verdict and its text, JSON (checked by a strict validator
 * written here), OpenMetrics (checked line by line) and SVG formats, the JSON reader and
 * `compare` on fixed documents. No loop is needed. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "args.h"
#include "compare.h"
#include "gen.h"
#include "histogram.h"
#include "json.h"
#include "report.h"

/* ------------------------------------------------------------------ arguments */

static int parse(stress_config *cfg, char *err, const char *line)
{
    /* Splits line on spaces into an argv (tokens are short; 32 at most). */
    static char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", line);
    argv[argc++] = "tt-stress";
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    err[0] = 0;
    stress_scenario h;
    return stress_args_parse(argc, argv, cfg, err, 256, &h);
}

START_TEST(args_defaults)
{
    stress_config c;
    char err[256];
    ck_assert_int_eq(parse(&c, err, ""), ARGS_OK);
    ck_assert_int_eq(c.scenario, SC_MIXED_LITE);
    ck_assert_int_eq(c.count, 0);
    ck_assert_int_eq(c.duration_ns, TT_SEC(10));
    ck_assert_int_eq(c.loops, 1);
    ck_assert_int_eq(c.progress, 1);
    ck_assert_ptr_null(c.json_path);

    ck_assert_int_eq(parse(&c, err, "offload"), ARGS_OK);
    ck_assert_int_eq(c.scenario, SC_OFFLOAD);
    ck_assert_int_eq(c.count, 20000);
    ck_assert_int_eq(c.duration_ns, 0);
    ck_assert_int_eq(c.mode, MODE_DEFAULT);

    ck_assert_int_eq(parse(&c, err, "mixed"), ARGS_OK);
    ck_assert_int_eq(c.duration_ns, TT_SEC(60));
    ck_assert_int_eq(parse(&c, err, "cancel"), ARGS_OK);
    ck_assert(c.cancel_rate == 1.0);
    ck_assert_int_eq(c.mode, MODE_BOTH);

    /* io counts episodes and cancels some of its calls by default. */
    ck_assert_int_eq(parse(&c, err, "io"), ARGS_OK);
    ck_assert_int_eq(c.scenario, SC_IO);
    ck_assert_int_eq(c.count, 5000);
    ck_assert_int_eq(c.duration_ns, 0);
    ck_assert_int_eq(c.concurrency, 16);
    ck_assert(c.cancel_rate == 0.3);
    ck_assert_int_eq(parse(&c, err, "io -d 3s -c 2 --cancel-rate 0 --mean 50us"), ARGS_OK);
    ck_assert_int_eq(c.count, 0);
    ck_assert_int_eq(c.duration_ns, TT_SEC(3));
    ck_assert_int_eq(c.concurrency, 2);
    ck_assert(c.cancel_rate == 0.0);
    ck_assert_int_eq(c.mean_ns, 50000);
    ck_assert_str_eq(stress_scenario_name(SC_IO), "io");
}
END_TEST

START_TEST(args_full)
{
    stress_config c;
    char err[256];
    ck_assert_int_eq(parse(&c, err, "offload -n 50 -c 4 -p 2 -q 8 --cost fixed --mean 250us "
                                    "--seed 7 --json x.json --plot y.svg --error-rate 0.25 "
                                    "--cancel-rate=0.5 --mode abandon --loops 3 --no-progress "
                                    "--backend epoll"),
                     ARGS_OK);
    ck_assert_int_eq(c.count, 50);
    ck_assert_int_eq(c.concurrency, 4);
    ck_assert_int_eq(c.pool_threads, 2);
    ck_assert_int_eq(c.queue_limit, 8);
    ck_assert_int_eq(c.cost, COST_FIXED);
    ck_assert_int_eq(c.mean_ns, 250000);
    ck_assert_int_eq(c.seed, 7);
    ck_assert_str_eq(c.json_path, "x.json");
    ck_assert_str_eq(c.plot_path, "y.svg");
    ck_assert(c.error_rate == 0.25);
    ck_assert(c.cancel_rate == 0.5);
    ck_assert_int_eq(c.mode, MODE_ABANDON);
    ck_assert_int_eq(c.loops, 3);
    ck_assert_int_eq(c.progress, 0);
    ck_assert_int_eq(c.backend, TT_BACKEND_EPOLL);
    ck_assert(c.rate == 0.0);
    ck_assert_int_eq(c.tcp_small_buffers, 0);
    ck_assert_ptr_null(c.openmetrics_path);

    ck_assert_int_eq(parse(&c, err, "io --rate 5000/s --openmetrics m.txt --tcp-small-buffers"), ARGS_OK);
    ck_assert(c.rate == 5000.0);
    ck_assert_str_eq(c.openmetrics_path, "m.txt");
    ck_assert_int_eq(c.tcp_small_buffers, 1);
    ck_assert_int_eq(parse(&c, err, "offload --rate=2.5"), ARGS_OK);
    ck_assert(c.rate == 2.5);

    /* --duration switches a count-mode scenario to a timed run, and the reverse. */
    ck_assert_int_eq(parse(&c, err, "cancel --duration=2"), ARGS_OK);
    ck_assert_int_eq(c.count, 0);
    ck_assert_int_eq(c.duration_ns, TT_SEC(2));
    ck_assert_int_eq(parse(&c, err, "mixed --count=10"), ARGS_OK);
    ck_assert_int_eq(c.count, 10);
    ck_assert_int_eq(c.duration_ns, 0);
    /* --pool-threads 0 alone is fine: each loop's default pool. */
    ck_assert_int_eq(parse(&c, err, "offload -p 0"), ARGS_OK);
    ck_assert_int_eq(c.pool_threads, 0);
}
END_TEST

static const struct { const char *line, *msg; } bad_cases[] = {
    {"foo", "unknown scenario 'foo'"},
    {"ios", "unknown scenario 'ios'"},
    {"io mixed", "unexpected argument 'mixed' (the scenario goes first)"},
    {"io -n 5 -d 1s", "--count and --duration exclude each other"},
    {"io -c 0", "--concurrency: must be at least 1"},
    {"offload cancel", "unexpected argument 'cancel' (the scenario goes first)"},
    {"--bogus", "unknown option '--bogus'"},
    {"offload -x 3", "unknown option '-x'"},
    {"offload --count", "option '--count' needs a value"},
    {"offload --count abc", "--count: not a number: 'abc'"},
    {"offload --count 12abc", "--count: not a number: '12abc'"},
    {"offload --count -5", "--count: must not be negative: '-5'"},
    {"offload --count 0", "--count: must be at least 1"},
    {"offload --count 99999999999999999999999", "--count: out of range (at most 1000000000000): '99999999999999999999999'"},
    {"offload -c 0", "--concurrency: must be at least 1"},
    {"offload -c -1", "--concurrency: must not be negative: '-1'"},
    {"offload -p 5000", "--pool-threads: out of range (at most 4096): '5000'"},
    {"offload -p x", "--pool-threads: not a number: 'x'"},
    {"--loops 0", "--loops: must be at least 1"},
    {"--duration 10x", "--duration: not a duration: '10x' (e.g. 10s, 500ms, 100us)"},
    {"--duration -1s", "--duration: must not be negative: '-1s'"},
    {"--duration 0", "--duration: must be at least 1ms: '0'"},
    {"--duration 999999999s", "--duration: out of range: '999999999s'"},
    {"--mean abc", "--mean: not a duration: 'abc' (e.g. 10s, 500ms, 100us)"},
    {"--cost bogus", "--cost: unknown cost model 'bogus' (fixed|uniform|exp|spin|read|fsync)"},
    {"--mode sometimes", "--mode: unknown mode 'sometimes' (default|abandon|both)"},
    {"--backend kqueue", "--backend: unknown backend 'kqueue' (auto|uring|epoll)"},
    {"--error-rate 1.5", "--error-rate: must be between 0 and 1: '1.5'"},
    {"--cancel-rate x", "--cancel-rate: not a number: 'x'"},
    {"-n 5 -d 1s", "--count and --duration exclude each other"},
    {"-q 4 -p 0", "--queue-limit needs a pool of its own (--pool-threads >= 1)"},
    {"--loops 2 -p 0", "--loops 2 shares one pool: it needs --pool-threads >= 1"},
    {"--json a --plot a", "--json and --plot name the same file 'a'"},
    {"--json=", "--json: empty file name"},
    {"--rate 0", "--rate: must be above 0: '0'"},
    {"--rate -5/s", "--rate: must be above 0: '-5/s'"},
    {"--rate fast", "--rate: not a rate: 'fast' (e.g. 5000/s)"},
    {"--rate 5/ms", "--rate: not a rate: '5/ms' (e.g. 5000/s)"},
    {"--rate 20000000", "--rate: out of range (at most 10000000/s): '20000000'"},
    {"--rate", "option '--rate' needs a value"},
    {"--openmetrics=", "--openmetrics: empty file name"},
    {"--json a --openmetrics a", "--json and --openmetrics name the same file 'a'"},
    {"--plot p --openmetrics p", "--plot and --openmetrics name the same file 'p'"},
};

START_TEST(args_bad)
{
    stress_config c;
    char err[256];
    const char *line = bad_cases[_i].line;
    ck_assert_msg(parse(&c, err, line) == ARGS_BAD, "'%s' was accepted", line);
    ck_assert_str_eq(err, bad_cases[_i].msg);
}
END_TEST

START_TEST(args_help)
{
    char *argv1[] = {"tt-stress", "--help", NULL};
    char *argv2[] = {"tt-stress", "cancel", "-h", NULL};
    stress_config c;
    char err[256];
    stress_scenario h = SC_OFFLOAD;
    ck_assert_int_eq(stress_args_parse(2, argv1, &c, err, sizeof err, &h), ARGS_HELP);
    ck_assert_int_eq(h, SC_COUNT_);
    ck_assert_int_eq(stress_args_parse(3, argv2, &c, err, sizeof err, &h), ARGS_HELP);
    ck_assert_int_eq(h, SC_CANCEL);
    char *argv3[] = {"tt-stress", "io", "--help", NULL};
    ck_assert_int_eq(stress_args_parse(3, argv3, &c, err, sizeof err, &h), ARGS_HELP);
    ck_assert_int_eq(h, SC_IO);
    char text[16384];
    stress_help(SC_IO, text, sizeof text);
    ck_assert_ptr_nonnull(strstr(text, "--tcp-small-buffers io: 4 KiB SO_SNDBUF/SO_RCVBUF"));
    ck_assert_ptr_nonnull(strstr(text, "persist timer"));
    ck_assert_ptr_nonnull(strstr(text, "TCP keeps the kernel's default buffers"));
    ck_assert_ptr_nonnull(strstr(text, "--rate N[/s]"));
    ck_assert_ptr_nonnull(strstr(text, "--openmetrics FILE"));
    ck_assert_ptr_nonnull(strstr(text, "tt-stress compare OLD.json NEW.json"));
    ck_assert_ptr_nonnull(strstr(text, "tt_recv"));
    ck_assert_ptr_nonnull(strstr(text, "127.0.0.1"));
    ck_assert_ptr_nonnull(strstr(text, "[mixed-lite|offload|cancel|timeout|group|io|mixed]"));
    stress_help(SC_CANCEL, text, sizeof text);
    ck_assert_ptr_nonnull(strstr(text, "TT_JOB_ABANDON_ON_CANCEL"));
    ck_assert_ptr_nonnull(strstr(text, "--queue-limit"));
    stress_help(SC_COUNT_, text, sizeof text);
    ck_assert_ptr_nonnull(strstr(text, "mixed-lite (the default)"));
    ck_assert_ptr_nonnull(strstr(text, "io: --concurrency workers")); /* the list is not cut short */
    ck_assert_ptr_nonnull(strstr(text, "mixed: all of the above"));
    ck_assert_ptr_nonnull(strstr(text, "exit status"));
}
END_TEST

START_TEST(args_numbers)
{
    int64_t ns = 0;
    ck_assert_int_eq(stress_parse_duration("1.5ms", &ns), 0);
    ck_assert_int_eq(ns, 1500000);
    ck_assert_int_eq(stress_parse_duration("2", &ns), 0);
    ck_assert_int_eq(ns, TT_SEC(2));
    ck_assert_int_eq(stress_parse_duration("100us", &ns), 0);
    ck_assert_int_eq(ns, 100000);
    ck_assert_int_eq(stress_parse_duration("250ns", &ns), 0);
    ck_assert_int_eq(ns, 250);
    ck_assert_int_eq(stress_parse_duration(".5s", &ns), 0);
    ck_assert_int_eq(ns, 500000000);
    ck_assert_int_eq(stress_parse_duration("", &ns), -1);
    ck_assert_int_eq(stress_parse_duration("ms", &ns), -1);
    ck_assert_int_eq(stress_parse_duration("1 s", &ns), -1);
    ck_assert_int_eq(stress_parse_duration("nan", &ns), -1);
    ck_assert_int_eq(stress_parse_duration("-3ms", &ns), -2);
    uint64_t u = 0;
    ck_assert_int_eq(stress_parse_uint("42", 100, &u), 0);
    ck_assert_int_eq(u, 42);
    ck_assert_int_eq(stress_parse_uint("101", 100, &u), -3);
    ck_assert_int_eq(stress_parse_uint("+4", 100, &u), -1);
    ck_assert_int_eq(stress_parse_uint(" 4", 100, &u), -1);
    ck_assert_int_eq(stress_parse_uint("18446744073709551616", UINT64_MAX, &u), -3);
    double r = 0;
    ck_assert_int_eq(stress_parse_rate("1000/s", &r), 0);
    ck_assert(r == 1000.0);
    ck_assert_int_eq(stress_parse_rate("0.5", &r), 0);
    ck_assert(r == 0.5);
    ck_assert_int_eq(stress_parse_rate("1000/", &r), -1);
    ck_assert_int_eq(stress_parse_rate("inf", &r), -1);
    ck_assert_int_eq(stress_parse_rate("", &r), -1);
    ck_assert_int_eq(stress_parse_rate("0/s", &r), -2);
    ck_assert_int_eq(stress_parse_rate("1e7", &r), 0);
    ck_assert_int_eq(stress_parse_rate("1.5e7", &r), -3);
}
END_TEST

/* ------------------------------------------------------------------ generator */

static stress_config gen_config(void)
{
    stress_config c;
    char err[256];
    ck_assert_int_eq(parse(&c, err, "mixed-lite"), ARGS_OK); /* exp 1 ms, both modes, 2 % errors */
    return c;
}

START_TEST(gen_seed_replays)
{
    /* The stream of (seed 42, loop 0, worker 0): fixed values, so a change to the generator
     * that would make old seeds replay differently shows here. */
    stress_rng r;
    stress_rng_init(&r, 42, 0, 0);
    ck_assert_uint_eq(stress_rand(&r), 16774891128801100498ULL);
    ck_assert_uint_eq(stress_rand(&r), 5403054952874698906ULL);
    ck_assert_uint_eq(stress_rand(&r), 8193964064987769771ULL);

    /* Worker 3's first plans at cancel rate 0.5, exactly. */
    stress_config c = gen_config();
    stress_rng_init(&r, 42, 0, 3);
    static const struct { int cancel, at_once; int64_t delay; int abandon, fail; int64_t cost; } want[] = {
        {1, 0, 170647, 1, 0, 766274}, {1, 0, 1762000, 1, 0, 613015},
        {1, 0, 52937, 1, 0, 278882}, {1, 0, 1743506, 1, 0, 967857},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        stress_plan p;
        stress_plan_offload(&r, &c, 0.5, &p);
        ck_assert_int_eq(p.cancel, want[i].cancel);
        ck_assert_int_eq(p.cancel_at_once, want[i].at_once);
        ck_assert_int_eq(p.cancel_delay_ns, want[i].delay);
        ck_assert_int_eq(p.abandon, want[i].abandon);
        ck_assert_int_eq(p.fail, want[i].fail);
        ck_assert_int_eq(p.cost_ns, want[i].cost);
    }

    /* Replaying: the same (seed, loop, worker) gives the same 2000 plans of both kinds; another
     * seed, loop or worker gives other plans. */
    enum { N = 2000 };
    static stress_plan a[N], b[N];
    const struct { uint64_t seed; unsigned loop, worker; int same; } runs[] = {
        {7, 1, 5, 1}, {8, 1, 5, 0}, {7, 0, 5, 0}, {7, 1, 4, 0},
    };
    stress_rng ra, rb;
    stress_rng_init(&ra, 7, 1, 5);
    memset(a, 0, sizeof a);
    for (int i = 0; i < N; i++)
        (i % 3 ? stress_plan_offload(&ra, &c, 0.3, &a[i]) : stress_plan_timeout(&ra, &c, &a[i]));
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        stress_rng_init(&rb, runs[k].seed, runs[k].loop, runs[k].worker);
        memset(b, 0, sizeof b);
        for (int i = 0; i < N; i++)
            (i % 3 ? stress_plan_offload(&rb, &c, 0.3, &b[i]) : stress_plan_timeout(&rb, &c, &b[i]));
        ck_assert_int_eq(memcmp(a, b, sizeof a) == 0, runs[k].same);
    }

    /* What the plans hold is what the options ask for. */
    int cancels = 0, at_once = 0, abandons = 0, fails = 0, waits_for = 0, due = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_ge(a[i].cost_ns, 0);
        ck_assert_int_le(a[i].cost_ns, 50 * c.mean_ns);
        if (i % 3 == 0) {
            ck_assert_int_eq(a[i].cancel, 0);
            ck_assert(a[i].how == WAIT_FOR || a[i].how == WAIT_SCOPE);
            ck_assert_int_le(a[i].timeout_ns, 2 * c.mean_ns);
            waits_for += a[i].how == WAIT_FOR;
            due += a[i].timeout_ns == 0;
        } else {
            ck_assert_int_eq(a[i].how, WAIT_AWAIT);
            ck_assert_int_le(a[i].cancel_delay_ns, 25 * c.mean_ns / 10);
            ck_assert(!a[i].cancel_at_once || (a[i].cancel && a[i].cancel_delay_ns == 0));
            cancels += a[i].cancel;
            at_once += a[i].cancel_at_once;
        }
        abandons += a[i].abandon;
        fails += a[i].fail;
    }
    /* Frequencies of 2000 draws within wide bounds (binomial, several sigma). */
    ck_assert_int_gt(cancels, 300);  /* 0.3 of 1333 */
    ck_assert_int_lt(cancels, 500);
    ck_assert_int_gt(at_once, 20);   /* 1/8 of the cancels */
    ck_assert_int_lt(at_once, 90);
    ck_assert_int_gt(abandons, 850); /* half of 2000 */
    ck_assert_int_lt(abandons, 1150);
    ck_assert_int_gt(fails, 15);     /* 2 % */
    ck_assert_int_lt(fails, 70);
    ck_assert_int_gt(waits_for, 250);
    ck_assert_int_lt(waits_for, 420);
    ck_assert_int_gt(due, 15);       /* 1/16 of 667 */
    ck_assert_int_lt(due, 75);

    /* A split stream is a function of the parent's state: the same parent, the same child. */
    stress_rng_init(&ra, 9, 0, 0);
    stress_rng_init(&rb, 9, 0, 0);
    stress_rng ca = stress_rng_split(&ra), cb = stress_rng_split(&rb);
    ck_assert_uint_eq(stress_rand(&ca), stress_rand(&cb));
    ck_assert_uint_eq(stress_rand(&ra), stress_rand(&rb));
    ck_assert_uint_ne(ca.s, ra.s);
}
END_TEST

/* A simulated worker on a virtual clock: each unit takes `service` ns once started, and starts
 * at its intended time or when the previous one ended, whichever is later. Records both
 * latencies; returns the last unit's corrected latency. */
static int64_t simulate(stress_pacer *p, int64_t service, int units, hist *corr, hist *uncorr)
{
    int64_t now = p->t0, last = 0;
    for (int k = 0; k < units; k++) {
        int64_t want = stress_pacer_intended(p);
        if (want > now)
            now = want; /* the worker sleeps until the arrival */
        stress_pacer_start(p, now);
        now += service;
        int64_t c, u;
        stress_pacer_end(p, now, &c, &u);
        ck_assert_int_ge(c, u);
        hist_record(corr, (uint64_t)c);
        hist_record(uncorr, (uint64_t)u);
        last = c;
    }
    return last;
}

START_TEST(gen_open_loop_correction)
{
    static hist corr, uncorr, corr_sat, uncorr_sat;
    hist_init(&corr);
    hist_init(&uncorr);
    hist_init(&corr_sat);
    hist_init(&uncorr_sat);
    stress_pacer p;

    /* 1000/s on one worker: an arrival every 1 ms. */
    stress_pacer_init(&p, 1000, 5000000, 1, 0);
    ck_assert_int_eq(stress_pacer_intended(&p), 5000000);
    /* Keeping up (0.4 ms per unit): both latencies are the service time. */
    ck_assert_int_eq(simulate(&p, 400000, 100, &corr, &uncorr), 400000);
    ck_assert_uint_eq(corr.max, 400000);
    ck_assert_uint_eq(uncorr.max, 400000);
    ck_assert_uint_eq(corr.min, 400000);

    /* Saturated (3 ms per unit against 1 ms arrivals): the uncorrected latency still says 3 ms,
     * the corrected one grows by 2 ms a unit — unit k waited 2k ms for its start. */
    stress_pacer_init(&p, 1000, 0, 1, 0);
    ck_assert_int_eq(simulate(&p, 3000000, 100, &corr_sat, &uncorr_sat), 3000000 + 99 * 2000000);
    ck_assert_uint_eq(uncorr_sat.max, 3000000);
    ck_assert_uint_eq(uncorr_sat.min, 3000000);
    ck_assert_uint_eq(corr_sat.min, 3000000);
    ck_assert_uint_eq(corr_sat.max, 201000000);
    ck_assert_uint_gt(hist_percentile(&corr_sat, 50), 30 * hist_percentile(&uncorr_sat, 50));
    ck_assert_uint_gt(hist_percentile(&corr_sat, 99), hist_percentile(&corr, 99));

    /* A slower start (the timer woke 0.5 ms late) counts too, a worker that is early does not
     * get credit for it. */
    stress_pacer_init(&p, 1000, 0, 1, 0);
    stress_pacer_start(&p, 500000);
    int64_t c, u;
    stress_pacer_end(&p, 900000, &c, &u);
    ck_assert_int_eq(c, 900000);
    ck_assert_int_eq(u, 400000);
    stress_pacer_start(&p, 700000); /* arrival 1 is due at 1 ms */
    stress_pacer_end(&p, 1100000, &c, &u);
    ck_assert_int_eq(c, 400000);
    ck_assert_int_eq(u, 400000);

    /* Four workers share 4000/s: worker 2 takes arrivals 2, 6, 10... = 0.5, 1.5, 2.5 ms. */
    stress_pacer_init(&p, 4000, 0, 4, 2);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(stress_pacer_intended(&p), 500000 + k * 1000000);
        stress_pacer_start(&p, stress_pacer_intended(&p));
        stress_pacer_end(&p, stress_pacer_intended(&p) + 1, &c, &u);
    }
    /* Closed loop: no schedule; corrected equals uncorrected. */
    stress_pacer_init(&p, 0, 0, 1, 0);
    ck_assert_int_eq(stress_pacer_intended(&p), INT64_MIN);
    stress_pacer_start(&p, 777);
    stress_pacer_end(&p, 1000, &c, &u);
    ck_assert_int_eq(c, 223);
    ck_assert_int_eq(u, 223);
}
END_TEST

/* ------------------------------------------------------------------ histogram */

START_TEST(hist_buckets)
{
    ck_assert_uint_eq(hist_index(0), 0);
    ck_assert_uint_eq(hist_index(127), 127);
    ck_assert_uint_eq(hist_index(128), 128);
    ck_assert_uint_eq(hist_index(129), 128);
    ck_assert_uint_eq(hist_index(130), 129);
    ck_assert_uint_eq(hist_index(255), 191);
    ck_assert_uint_eq(hist_index(256), 192);
    ck_assert_uint_eq(hist_index(1000), 317);
    ck_assert_uint_eq(hist_bucket_lower(317), 1000);
    ck_assert_uint_eq(hist_bucket_upper(317), 1007);
    ck_assert_uint_eq(hist_bucket_lower(128), 128);
    ck_assert_uint_eq(hist_bucket_upper(128), 129);
    ck_assert_uint_eq(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
    ck_assert_uint_eq(hist_bucket_upper(HIST_BUCKETS - 1), UINT64_MAX);
    /* Every bucket maps back to itself at both ends, buckets tile the line without gaps, and
     * each is at most 1/64 of its lower bound wide. */
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        uint64_t lo = hist_bucket_lower(i), hi = hist_bucket_upper(i);
        ck_assert_uint_eq(hist_index(lo), i);
        ck_assert_uint_eq(hist_index(hi), i);
        if (i + 1 < HIST_BUCKETS)
            ck_assert_uint_eq(hist_bucket_lower(i + 1), hi + 1);
        if (lo >= 128)
            ck_assert((double)(hi - lo + 1) / (double)lo <= 1.0 / 64 + 1e-12);
    }
}
END_TEST

START_TEST(hist_percentiles_exact)
{
    hist *h = malloc(sizeof *h);
    hist_init(h);
    ck_assert_uint_eq(hist_percentile(h, 50), 0);
    for (uint64_t v = 100; v >= 1; v--)
        hist_record(h, v);
    ck_assert_uint_eq(h->count, 100);
    ck_assert_uint_eq(h->min, 1);
    ck_assert_uint_eq(h->max, 100);
    ck_assert(hist_mean(h) == 50.5);
    ck_assert_uint_eq(hist_percentile(h, 50), 50);
    ck_assert_uint_eq(hist_percentile(h, 90), 90);
    ck_assert_uint_eq(hist_percentile(h, 99), 99);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 100);
    ck_assert_uint_eq(hist_percentile(h, 100), 100);
    ck_assert_uint_eq(hist_percentile(h, 0.5), 1);

    /* Above 128 values are reported as their bucket's highest equivalent value. */
    hist_init(h);
    for (uint64_t v = 1; v <= 1000; v++)
        hist_record(h, v);
    ck_assert_uint_eq(hist_percentile(h, 50), 503);
    ck_assert_uint_eq(hist_percentile(h, 90), 903);
    ck_assert_uint_eq(hist_percentile(h, 99), 991);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 999);
    ck_assert_uint_eq(hist_percentile(h, 100), 1000);

    /* A lone value is reported exactly (clamped to the real max and min). */
    hist_init(h);
    hist_record(h, 1000001);
    ck_assert_uint_eq(hist_percentile(h, 50), 1000001);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 1000001);

    /* Merging equals recording everything into one. */
    hist *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    hist_init(a);
    hist_init(b);
    for (uint64_t v = 1; v <= 1000; v++)
        hist_record(v % 2 ? a : b, v);
    hist_merge(a, b);
    ck_assert_uint_eq(a->count, 1000);
    ck_assert_uint_eq(a->min, 1);
    ck_assert_uint_eq(a->max, 1000);
    hist_init(h);
    for (uint64_t v = 1; v <= 1000; v++)
        hist_record(h, v);
    ck_assert_int_eq(memcmp(a->buckets, h->buckets, sizeof h->buckets), 0);
    ck_assert_uint_eq(hist_percentile(a, 90), 903);
    free(a);
    free(b);
    free(h);
}
END_TEST

/* ------------------------------------------------------------------ report */

static stress_report *sample_report(void)
{
    stress_report *r = malloc(sizeof *r);
    report_init(r);
    snprintf(r->scenario, sizeof r->scenario, "offload");
    snprintf(r->backend, sizeof r->backend, "epoll");
    snprintf(r->settings, sizeof r->settings, "100 operations, \"quoted\"");
    r->elapsed_s = 2.0;
    r->submitted = r->ended = 100;
    r->outcomes[OUT_OK] = 100;
    for (uint64_t v = 1; v <= 100; v++) {
        hist_record(&r->lat[OUT_OK], v * 1000);
        hist_record(&r->all, v * 1000);
    }
    return r;
}

static char *render(int (*fn)(FILE *, const stress_report *), const stress_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(fn(f, r), 0);
    fclose(f);
    return buf;
}

static int print_wrap(FILE *f, const stress_report *r)
{
    report_print(f, r);
    return 0;
}

/* ---- A strict JSON validator (RFC 8259), independent of the tool's reader: returns the end
 * of the value at p, or NULL. */
static const char *jv_value(const char *p, int depth);

static const char *jv_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *jv_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"')
            return p;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            c = (unsigned char)*p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, p++)
                    if (!strchr("0123456789abcdefABCDEF", *p) || !*p)
                        return NULL;
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                return NULL;
            }
        }
    }
}

static const char *jv_number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *jv_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = jv_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = jv_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                p = jv_string(jv_ws(p));
                if (!p || *(p = jv_ws(p)) != ':')
                    return NULL;
                p++;
            }
            p = jv_value(p, depth + 1);
            if (!p)
                return NULL;
            p = jv_ws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    if (*p == '"')
        return jv_string(p);
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    return jv_number(p);
}

static int json_valid(const char *text)
{
    const char *end = jv_value(text, 0);
    return end && *jv_ws(end) == 0;
}

/* ---- An OpenMetrics checker, line by line: every family declared once with # TYPE before its
 * samples (then # UNIT matching the name's suffix, # HELP), samples named after their family
 * with the suffixes its type allows, labels well formed and escaped, quantiles in [0, 1],
 * values numbers, families not interleaved, and "# EOF" as the last line. Returns NULL or what
 * is wrong (with the line). */
static const char *om_check(const char *text, char *why, size_t len)
{
    char family[128] = "", type[16] = "";
    char seen[64][128];
    int nseen = 0, line = 0, eof = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl) {
            snprintf(why, len, "line %d: no newline at the end", line + 1);
            return why;
        }
        char l[1024];
        size_t n = (size_t)(nl - p);
        if (n >= sizeof l) {
            snprintf(why, len, "line %d: too long", line + 1);
            return why;
        }
        memcpy(l, p, n);
        l[n] = 0;
        p = nl + 1;
        line++;
        if (eof) {
            snprintf(why, len, "line %d: after # EOF", line);
            return why;
        }
        if (strcmp(l, "# EOF") == 0) {
            eof = 1;
            continue;
        }
        char name[128], rest[900];
        if (strncmp(l, "# TYPE ", 7) == 0) {
            if (sscanf(l + 7, "%127s %15s", name, type) != 2 ||
                !(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                  strcmp(type, "summary") == 0 || strcmp(type, "info") == 0)) {
                snprintf(why, len, "line %d: bad TYPE: %.100s", line, l);
                return why;
            }
            for (int i = 0; i < nseen; i++)
                if (strcmp(seen[i], name) == 0) {
                    snprintf(why, len, "line %d: family %.100s declared twice", line, name);
                    return why;
                }
            for (const char *q = name; *q; q++)
                if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' || *q == ':' ||
                      (q > name && *q >= '0' && *q <= '9'))) {
                    snprintf(why, len, "line %d: bad family name %.100s", line, name);
                    return why;
                }
            snprintf(seen[nseen++], sizeof seen[0], "%s", name);
            snprintf(family, sizeof family, "%s", name);
            continue;
        }
        if (strncmp(l, "# UNIT ", 7) == 0 || strncmp(l, "# HELP ", 7) == 0) {
            if (sscanf(l + 7, "%127s %899[^\n]", name, rest) != 2 || strcmp(name, family) != 0) {
                snprintf(why, len, "line %d: metadata for another family: %.100s", line, l);
                return why;
            }
            size_t fl = strlen(family), ul = strlen(rest);
            if (l[2] == 'U' && (fl <= ul || strcmp(family + fl - ul, rest) != 0 || family[fl - ul - 1] != '_')) {
                snprintf(why, len, "line %d: family %.60s does not end with its unit %.40s", line, family, rest);
                return why;
            }
            continue;
        }
        if (l[0] == '#') {
            snprintf(why, len, "line %d: unknown comment: %.100s", line, l);
            return why;
        }
        /* A sample: name, optional {labels}, a space, a value. */
        const char *q = l;
        size_t k = 0;
        while (*q && *q != '{' && *q != ' ' && k < sizeof name - 1)
            name[k++] = *q++;
        name[k] = 0;
        if (!family[0]) {
            snprintf(why, len, "line %d: a sample before any # TYPE", line);
            return why;
        }
        static const struct { const char *type, *suffixes[4]; } allowed[] = {
            {"counter", {"_total", "_created", NULL}}, {"gauge", {"", NULL}},
            {"summary", {"", "_sum", "_count", "_created"}}, {"info", {"_info", NULL}},
        };
        int ok = 0, quantile_needed = 0;
        for (size_t t = 0; t < 4; t++) {
            if (strcmp(allowed[t].type, type) != 0)
                continue;
            for (int sfx = 0; sfx < 4 && allowed[t].suffixes[sfx]; sfx++) {
                char want[160];
                snprintf(want, sizeof want, "%s%s", family, allowed[t].suffixes[sfx]);
                if (strcmp(want, name) == 0) {
                    ok = 1;
                    quantile_needed = strcmp(type, "summary") == 0 && sfx == 0;
                }
            }
        }
        if (!ok) {
            snprintf(why, len, "line %d: sample %.60s is not of family %.60s (%s)", line, name, family, type);
            return why;
        }
        int has_quantile = 0;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                char key[64];
                k = 0;
                while ((*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                        (k && *q >= '0' && *q <= '9')) && k < sizeof key - 1)
                    key[k++] = *q++;
                key[k] = 0;
                if (!k || *q++ != '=' || *q++ != '"') {
                    snprintf(why, len, "line %d: bad label", line);
                    return why;
                }
                char val[512];
                k = 0;
                while (*q && *q != '"' && k < sizeof val - 1) {
                    if (*q == '\\') {
                        q++;
                        if (*q != '\\' && *q != '"' && *q != 'n') {
                            snprintf(why, len, "line %d: bad escape in a label value", line);
                            return why;
                        }
                    }
                    val[k++] = *q++;
                }
                val[k] = 0;
                if (*q++ != '"') {
                    snprintf(why, len, "line %d: unterminated label value", line);
                    return why;
                }
                if (strcmp(key, "quantile") == 0) {
                    char *end;
                    double v = strtod(val, &end);
                    if (*end || v < 0 || v > 1) {
                        snprintf(why, len, "line %d: bad quantile %.40s", line, val);
                        return why;
                    }
                    has_quantile = 1;
                }
                if (*q == ',')
                    q++;
                else if (*q != '}') {
                    snprintf(why, len, "line %d: expected , or }", line);
                    return why;
                }
            }
            q++;
        }
        if (has_quantile != quantile_needed) {
            snprintf(why, len, "line %d: quantile label %s", line, has_quantile ? "on a non-quantile sample" : "missing");
            return why;
        }
        char *end;
        if (*q++ != ' ' || (strtod(q, &end), end == q) || *end) {
            snprintf(why, len, "line %d: bad value: %.100s", line, l);
            return why;
        }
    }
    if (!eof) {
        snprintf(why, len, "no # EOF at the end");
        return why;
    }
    return NULL;
}

START_TEST(checkers_reject_bad_input)
{
    /* The checkers themselves: each must fail on what it exists to catch. */
    ck_assert(json_valid("{\"a\": [1, -2.5e3, true, null, \"x\\n\"]}"));
    ck_assert(!json_valid("{\"a\": 1,}"));
    ck_assert(!json_valid("{\"a\": 01}"));
    ck_assert(!json_valid("{\"a\": nan}"));
    ck_assert(!json_valid("{\"a\": \"tab\there\"}"));
    ck_assert(!json_valid("{\"a\": 1} x"));
    ck_assert(!json_valid("{\"a\" 1}"));
    char why[200];
    ck_assert_ptr_null(om_check("# TYPE a_seconds summary\n# UNIT a_seconds seconds\n"
                                "a_seconds{x=\"1\",quantile=\"0.5\"} 1e-3\na_seconds_count{x=\"1\"} 3\n# EOF\n",
                                why, sizeof why));
    ck_assert_ptr_nonnull(om_check("# TYPE a counter\na 1\n# EOF\n", why, sizeof why));
    ck_assert_str_eq(why, "line 2: sample a is not of family a (counter)");
    ck_assert_ptr_nonnull(om_check("# TYPE a gauge\na 1\n", why, sizeof why));
    ck_assert_str_eq(why, "no # EOF at the end");
    ck_assert_ptr_nonnull(om_check("# TYPE a gauge\na{k=\"v} 1\n# EOF\n", why, sizeof why));
    ck_assert_ptr_nonnull(om_check("# TYPE a gauge\n# TYPE a gauge\n# EOF\n", why, sizeof why));
    ck_assert_ptr_nonnull(om_check("# TYPE a_bytes gauge\n# UNIT a_bytes seconds\n# EOF\n", why, sizeof why));
    ck_assert_ptr_nonnull(om_check("# TYPE s summary\ns{quantile=\"1.5\"} 1\n# EOF\n", why, sizeof why));
    ck_assert_ptr_nonnull(om_check("# TYPE s summary\ns 1\n# EOF\n", why, sizeof why));
    ck_assert_ptr_nonnull(om_check("# TYPE a gauge\na one\n# EOF\n", why, sizeof why));
    ck_assert_ptr_nonnull(om_check("# TYPE a gauge\n# EOF\na 1\n", why, sizeof why));
}
END_TEST

/* A report with everything the new sections show: an io run's kinds, phases, an open loop. */
static void add_sections(stress_report *r)
{
    r->seed = 4242;
    for (uint64_t v = 1; v <= 1000; v++) {
        hist_record(&r->io_kind[IO_KIND_PIPE], v * 100);
        hist_record(&r->io_kind[IO_KIND_TCP], v == 1000 ? 205000000 : v * 100);
    }
    snprintf(r->phases.source, sizeof r->phases.source, "tt-stress");
    for (uint64_t v = 1; v <= 100; v++) {
        hist_record(&r->phases.h[PHASE_QUEUE], v * 10);
        hist_record(&r->phases.h[PHASE_RUN], 1000000);
        hist_record(&r->phases.h[PHASE_RESUME], 2000 + v);
        hist_record(&r->unit_uncorrected, 1000000);
        hist_record(&r->unit_corrected, v * 1000000);
    }
    snprintf(r->pool_phases.source, sizeof r->pool_phases.source, "the pool");
    for (uint64_t v = 1; v <= 50; v++)
        for (int k = 0; k < PHASE_COUNT_; k++)
            hist_record(&r->pool_phases.h[k], 3000);
    r->stuck_reported = 2;
    r->rate = 500;
}

START_TEST(report_sections)
{
    stress_report *r = sample_report();
    add_sections(r);
    char *text = render(print_wrap, r);
    ck_assert_ptr_nonnull(strstr(text, "  seed 4242 (--seed 4242 replays the same plans"));
    ck_assert_ptr_nonnull(strstr(text, "io-ok by stream kind"));
    /* tcp's one slow call in 1000 is its max, not its p99.9 (the 999th value). */
    ck_assert_ptr_nonnull(strstr(text, "  io-ok tcp                1000    50.2 us    90.1 us"));
    ck_assert_ptr_nonnull(strstr(text, "205 ms"));
    ck_assert_ptr_nonnull(strstr(text, "  io-ok unix                  0\n"));
    ck_assert_ptr_nonnull(strstr(text, "phases of offloaded calls that ran and were awaited (measured by tt-stress)"));
    ck_assert_ptr_nonnull(strstr(text, "  queue-wait                100"));
    ck_assert_ptr_nonnull(strstr(text, "  run                       100       1 ms"));
    ck_assert_ptr_nonnull(strstr(text, "phases of offloaded calls that ran and were awaited (measured by the pool)\n"
                                       "  queue-wait                 50       3 us"));
    ck_assert_ptr_nonnull(strstr(text, "stuck blocking calls reported by the pool's detector: 2"));
    ck_assert_ptr_nonnull(strstr(text, "open loop at 500/s"));
    ck_assert_ptr_nonnull(strstr(text, "  corrected                 100    50.3 ms"));
    ck_assert_ptr_nonnull(strstr(text, "  uncorrected               100       1 ms"));
    ck_assert_ptr_nonnull(strstr(text, "achieved 50 units/s"));
    free(text);

    char *json = render(report_json, r);
    ck_assert_msg(json_valid(json), "invalid JSON:\n%s", json);
    ck_assert_ptr_nonnull(strstr(json, "\"seed\": 4242,"));
    ck_assert_ptr_nonnull(strstr(json, "\"latency_by_stream_ns\": {\n    \"pipe\": {\"count\": 1000, \"min\": 100, "
                                       "\"mean\": 50050.0, \"p50\": 50175, \"p90\": 90111, \"p99\": 99327, "
                                       "\"p99.9\": 100000, \"max\": 100000},\n    \"unix\": {\"count\": 0},"));
    ck_assert_ptr_nonnull(strstr(json, "\"max\": 205000000}"));
    ck_assert_ptr_nonnull(strstr(json, "\"phases_ns\": {\n    \"source\": \"tt-stress\",\n    \"queue-wait\": {\"count\": 100"));
    ck_assert_ptr_nonnull(strstr(json, "\"resume\": {\"count\": 100, \"min\": 2001"));
    ck_assert_ptr_nonnull(strstr(json, "\"pool_phases_ns\": {\n    \"source\": \"the pool\",\n"
                                       "    \"queue-wait\": {\"count\": 50, \"min\": 3000"));
    ck_assert_ptr_nonnull(strstr(json, "\"stuck_calls\": 2,"));
    ck_assert_ptr_nonnull(strstr(json, "\"open_loop\": {\n    \"rate_per_s\": 500,\n    \"achieved_per_s\": 50.0,\n"
                                       "    \"corrected_ns\": {\"count\": 100, \"min\": 1000000"));
    free(json);

    char *om = render(report_openmetrics, r);
    char why[200];
    ck_assert_msg(om_check(om, why, sizeof why) == NULL, "%s\n%s", why, om);
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_run_info{scenario=\"offload\",backend=\"epoll\",seed=\"4242\",settings=\"100 operations, \\\"quoted\\\"\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_outcomes_total{outcome=\"ok\"} 100\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_latency_seconds{outcome=\"ok\",quantile=\"0.5\"} 5.0175e-05\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_latency_seconds{outcome=\"ok\",quantile=\"1\"} 0.0001\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_latency_seconds_count{outcome=\"error\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_io_latency_seconds{kind=\"tcp\",quantile=\"1\"} 0.205\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_phase_seconds_count{phase=\"run\",source=\"tt-stress\"} 100\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_phase_seconds_count{phase=\"run\",source=\"the pool\"} 50\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_stuck_calls_total 2\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_unit_latency_seconds{correction=\"corrected\",quantile=\"0.5\"} 0.050331647\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_invariant_violations{invariant=\"lost\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_pass 1\n# EOF\n"));
    free(om);

    char *svg = render(report_svg, r);
    ck_assert_ptr_nonnull(strstr(svg, "height=\"2600\"")); /* five panels */
    ck_assert_ptr_nonnull(strstr(svg, ">offloaded calls by phase (measured by the pool)</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">io-ok by stream kind</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">tcp (1000)</text>"));
    ck_assert_ptr_null(strstr(svg, ">unix (")); /* an empty series has no curve or legend */
    ck_assert_ptr_nonnull(strstr(svg, ">offloaded calls by phase (measured by tt-stress)</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">open loop at 500/s: units of work</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">corrected (100)</text>"));
    ck_assert_ptr_null(strstr(svg, "nan"));
    free(svg);

    /* A failing run: the verdict reaches OpenMetrics, and the report stays valid. */
    r->lost = 2;
    r->live[0] = -1;
    om = render(report_openmetrics, r);
    ck_assert_msg(om_check(om, why, sizeof why) == NULL, "%s", why);
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_invariant_violations{invariant=\"lost\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_invariant_violations{invariant=\"leaked\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(om, "tt_stress_pass 0\n# EOF\n"));
    free(om);
    json = render(report_json, r);
    ck_assert(json_valid(json));
    free(json);
    free(r);
}
END_TEST

START_TEST(report_verdict)
{
    stress_report *r = sample_report();
    char buf[200];
    ck_assert_int_eq(report_failures(r, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
    r->lost = 1;
    ck_assert_int_eq(report_failures(r, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "lost");
    r->doubled = 2;
    r->live[1] = 3; /* tasks */
    r->early_resume = 1;
    ck_assert_int_eq(report_failures(r, buf, sizeof buf), 4);
    ck_assert_str_eq(buf, "lost, doubled, leaked, memory-safety");
    ck_assert_int_eq(report_leaked(r), 3);
    report_init(r);
    r->discard_expected = 2;
    r->discard_called = 1;
    ck_assert_int_eq(report_failures(r, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "discard");
    report_init(r);
    r->stream_bad = 1;
    ck_assert_int_eq(report_failures(r, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "stream");

    report_fmt_ns(buf, sizeof buf, 250);
    ck_assert_str_eq(buf, "250 ns");
    report_fmt_ns(buf, sizeof buf, 1500);
    ck_assert_str_eq(buf, "1.5 us");
    report_fmt_ns(buf, sizeof buf, 12300000);
    ck_assert_str_eq(buf, "12.3 ms");
    report_fmt_ns(buf, sizeof buf, 2050000000.0);
    ck_assert_str_eq(buf, "2.05 s");
    free(r);
}
END_TEST

START_TEST(report_formats)
{
    stress_report *r = sample_report();
    char *text = render(print_wrap, r);
    ck_assert_ptr_nonnull(strstr(text, "tt-stress report: offload on the epoll backend"));
    ck_assert_ptr_nonnull(strstr(text, "throughput 50 ops/s"));
    ck_assert_ptr_nonnull(strstr(text, "50.2 us")); /* p50 of 1..100 us: bucket [49664, 50175] */
    ck_assert_ptr_nonnull(strstr(text, "result: PASS"));
    free(text);

    char *json = render(report_json, r);
    ck_assert_msg(json_valid(json), "invalid JSON:\n%s", json);
    /* A closed-loop run without io or phases: those sections are empty, not missing. */
    ck_assert_ptr_nonnull(strstr(json, "\"phases_ns\": null,\n  \"pool_phases_ns\": null,\n  \"stuck_calls\": 0,\n  \"open_loop\": null,"));
    ck_assert_ptr_nonnull(strstr(json, "\"tcp\": {\"count\": 0}"));
    ck_assert_ptr_nonnull(strstr(json, "\"scenario\": \"offload\""));
    ck_assert_ptr_nonnull(strstr(json, "\"settings\": \"100 operations, \\\"quoted\\\"\""));
    ck_assert_ptr_nonnull(strstr(json, "\"backend\": \"epoll\","));
    ck_assert_ptr_nonnull(strstr(json, "\"throughput_ops_s\": 50.0"));
    ck_assert_ptr_nonnull(strstr(json, "\"ok\": 100, \"error\": 0"));
    ck_assert_ptr_nonnull(strstr(json, "\"p50\": 50175"));
    ck_assert_ptr_nonnull(strstr(json, "\"max\": 100000"));
    ck_assert_ptr_nonnull(strstr(json, "\"pool\": null"));
    ck_assert_ptr_nonnull(strstr(json, "\"failed\": [],\n  \"pass\": true"));
    ck_assert_ptr_nonnull(strstr(json, "\"io-ok\": 0, \"io-cancelled\": 0, \"io-timed-out\": 0"));
    ck_assert_ptr_nonnull(strstr(json, "\"stream\": 0,\n    \"stream_first\": null"));
    free(json);

    /* An io run: its line in the table and a stream violation named in both formats. */
    r->outcomes[OUT_IO_OK] = 7;
    r->io_bytes = 4096;
    r->io_streams = 2;
    r->io_raced = 3;
    r->io_cancel_dropped = 1;
    r->stream_bad = 1;
    snprintf(r->stream_first, sizeof r->stream_first, "pipe stream 1: byte 8 is 0x00");
    text = render(print_wrap, r);
    ck_assert_ptr_nonnull(strstr(text, "io: 4096 bytes checked in order, 2 streams closed"));
    ck_assert_ptr_nonnull(strstr(text, "3 cancels/timeouts lost the race to data (1 of them"));
    ck_assert_ptr_nonnull(strstr(text, "stream              1   first: pipe stream 1: byte 8 is 0x00"));
    ck_assert_ptr_nonnull(strstr(text, "result: FAIL (stream)"));
    free(text);
    json = render(report_json, r);
    ck_assert_ptr_nonnull(strstr(json, "\"io\": {\"bytes\": 4096, \"streams\": 2, \"connects\": 0, "
                                       "\"raced\": 3, \"cancel_dropped_by_wait_for\": 1}"));
    ck_assert_ptr_nonnull(strstr(json, "\"io-ok\": 7"));
    ck_assert_ptr_nonnull(strstr(json, "\"stream_first\": \"pipe stream 1: byte 8 is 0x00\""));
    ck_assert_ptr_nonnull(strstr(json, "\"failed\": [\"stream\"]"));
    free(json);
    report_init(r);
    r->elapsed_s = 2.0;
    r->submitted = r->ended = 100;
    r->outcomes[OUT_OK] = 100;
    for (uint64_t v = 1; v <= 100; v++) {
        hist_record(&r->lat[OUT_OK], v * 1000);
        hist_record(&r->all, v * 1000);
    }
    snprintf(r->scenario, sizeof r->scenario, "offload");

    r->lost = 1;
    r->doubled = 1;
    snprintf(r->inject, sizeof r->inject, "drop");
    json = render(report_json, r);
    ck_assert_ptr_nonnull(strstr(json, "\"lost\": 1"));
    ck_assert_ptr_nonnull(strstr(json, "\"inject\": \"drop\""));
    ck_assert_ptr_nonnull(strstr(json, "\"failed\": [\"lost\", \"doubled\"],\n  \"pass\": false"));
    free(json);
    text = render(print_wrap, r);
    ck_assert_ptr_nonnull(strstr(text, "result: FAIL (lost, doubled)"));
    ck_assert_ptr_nonnull(strstr(text, "fault injected: TT_STRESS_INJECT=drop"));
    free(text);

    char *svg = render(report_svg, r);
    ck_assert_ptr_nonnull(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert_ptr_nonnull(strstr(svg, ">ok (100)</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">99%</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">100 us</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "<polyline"));
    ck_assert_ptr_nonnull(strstr(svg, "</svg>\n"));
    ck_assert_ptr_null(strstr(svg, "nan"));
    free(svg);
    free(r);
}
END_TEST

/* ------------------------------------------------------------------ JSON reader and compare */

START_TEST(json_reader)
{
    json_doc d;
    char err[200];
    ck_assert_int_eq(json_flatten(" {\"a\": {\"p99.9\": -1.5e2, \"s\": \"x\\\"\\u00e9\\ud83d\\ude00\"},"
                                  " \"l\": [true, null, {\"k\": 0}], \"e\": {}, \"z\": []}\n",
                                  &d, err, sizeof err), 0);
    ck_assert_int_eq(d.n, 5);
    const json_leaf *l = json_find(&d, "a/p99.9");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(l->type, JSON_NUMBER);
    ck_assert(l->num == -150.0);
    l = json_find(&d, "a/s");
    ck_assert_int_eq(l->type, JSON_STRING);
    ck_assert_str_eq(l->str, "x\"\xc3\xa9\xf0\x9f\x98\x80");
    ck_assert_int_eq(json_find(&d, "l/0")->type, JSON_BOOL);
    ck_assert(json_find(&d, "l/0")->num == 1);
    ck_assert_int_eq(json_find(&d, "l/1")->type, JSON_NULL);
    ck_assert(json_find(&d, "l/2/k")->num == 0);
    ck_assert_ptr_null(json_find(&d, "e"));
    json_doc_free(&d);

    static const struct { const char *text, *err; } bad[] = {
        {"{\"a\": 01}", "line 1, column 8: expected ',' or '}'"},
        {"{\"a\": 1,}", "line 1, column 9: expected a key"},
        {"{\"a\": 1}\n{", "line 2, column 1: text after the document"},
        {"[1, 2", "line 1, column 6: expected ',' or ']'"},
        {"{\"a\": tru}", "line 1, column 7: unexpected 't'"},
        {"{\"a\": \"x", "line 1, column 9: unterminated string"},
        {"{\"a\": \"\\q\"}", "line 1, column 10: bad escape '\\q'"},
        {"{\"a\": \"\\ud800\"}", "line 1, column 14: lone surrogate"},
        {"{\"a\": 1.}", "line 1, column 7: bad number: no digit after '.'"},
        {"{\"a\": -}", "line 1, column 7: bad number"},
        {"{\"a\": 1e}", "line 1, column 7: bad number: no digit in the exponent"},
        {"{\"a\" 1}", "line 1, column 6: expected ':'"},
        {"", "line 1, column 1: unexpected end of input"},
        {"{\"a\": \"tab\there\"}", "line 1, column 11: control character in a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        ck_assert_msg(json_flatten(bad[i].text, &d, err, sizeof err) == -1, "accepted: %s", bad[i].text);
        ck_assert_msg(strcmp(err, bad[i].err) == 0, "'%s': got '%s'", bad[i].text, err);
        json_doc_free(&d);
    }
    /* Nesting is bounded, not a stack overflow. */
    char deep[200];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = 0;
    ck_assert_int_eq(json_flatten(deep, &d, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "nested too deep"));
    json_doc_free(&d);
}
END_TEST

static const char cmp_old[] =
    "{\"tool\": \"tt-stress\", \"scenario\": \"io\", \"settings\": \"before\", \"seed\": 1,\n"
    " \"elapsed_s\": 2.0, \"throughput_ops_s\": 1000.0,\n"
    " \"latency_ns\": {\"all\": {\"count\": 10, \"p50\": 200, \"p99.9\": 4000}, \"error\": {\"count\": 0}},\n"
    " \"phases_ns\": null, \"gone\": 7,\n"
    " \"invariants\": {\"lost\": 0, \"leaked\": {\"tasks\": 0}}, \"failed\": [], \"pass\": true}\n";
static const char cmp_new[] =
    "{\"tool\": \"tt-stress\", \"scenario\": \"io\", \"settings\": \"after\", \"seed\": 1,\n"
    " \"elapsed_s\": 2.0, \"throughput_ops_s\": 1250.0,\n"
    " \"latency_ns\": {\"all\": {\"count\": 10, \"p50\": 150, \"p99.9\": 4100}, \"error\": {\"count\": 0}},\n"
    " \"phases_ns\": {\"run\": {\"p50\": 900}},\n"
    " \"invariants\": {\"lost\": 3, \"leaked\": {\"tasks\": 0}}, \"failed\": [\"lost\", \"leaked\"], \"pass\": false}\n";

static void want_row(const char *out, const char *path, const char *o, const char *n, const char *change)
{
    char line[200];
    snprintf(line, sizeof line, "\n  %-44s %16s %16s %9s\n", path, o, n, change);
    ck_assert_msg(strstr(out, line) != NULL, "no row%s in:\n%s", line, out);
}

START_TEST(compare_reports)
{
    char buf[32];
    compare_change(buf, sizeof buf, 1000, 1250);
    ck_assert_str_eq(buf, "+25.0%");
    compare_change(buf, sizeof buf, 3, 2);
    ck_assert_str_eq(buf, "-33.3%");
    compare_change(buf, sizeof buf, -4, -2);
    ck_assert_str_eq(buf, "+50.0%");
    compare_change(buf, sizeof buf, 7, 7);
    ck_assert_str_eq(buf, "=");
    compare_change(buf, sizeof buf, 0, 5);
    ck_assert_str_eq(buf, "n/a");

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    char err[300] = "";
    ck_assert_int_eq(stress_compare(f, "old.json", cmp_old, "new.json", cmp_new, err, sizeof err), 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "  old: old.json: io, before\n  new: new.json: io, after\n"));
    want_row(out, "seed", "1", "1", "=");
    want_row(out, "elapsed_s", "2", "2", "=");
    want_row(out, "throughput_ops_s", "1000", "1250", "+25.0%");
    want_row(out, "latency_ns/all/p50", "200", "150", "-25.0%");
    want_row(out, "latency_ns/all/p99.9", "4000", "4100", "+2.5%");
    want_row(out, "invariants/lost", "0", "3", "n/a");
    want_row(out, "invariants/leaked/tasks", "0", "0", "=");
    want_row(out, "pass", "true", "false", "changed");
    want_row(out, "gone", "7", "-", "gone");
    want_row(out, "phases_ns/run/p50", "-", "900", "added");
    /* Figures 0 on both sides are left out, except the invariants. */
    ck_assert_ptr_null(strstr(out, "latency_ns/error/count"));
    ck_assert_ptr_nonnull(strstr(out, "\n  verdict: old PASS, new FAIL (lost, leaked)\n"));
    free(out);

    /* Not JSON, or JSON that is not a report: an error naming the file. */
    f = open_memstream(&out, &len);
    ck_assert_int_eq(stress_compare(f, "a.json", "{\"tool\": ", "b.json", cmp_new, err, sizeof err), -1);
    ck_assert_str_eq(err, "a.json: not valid JSON: line 1, column 10: unexpected end of input");
    ck_assert_int_eq(stress_compare(f, "a.json", cmp_old, "b.json", "{\"tool\": \"wrk\"}", err, sizeof err), -1);
    ck_assert_str_eq(err, "b.json: not a tt-stress report (no \"tool\": \"tt-stress\")");
    fclose(f);
    ck_assert_uint_eq(len, 0);
    free(out);
}
END_TEST

static Suite *stress_units_suite(void)
{
    Suite *s = suite_create("stress_units");
    TCase *tc = tcase_create("args");
    tcase_add_test(tc, args_defaults);
    tcase_add_test(tc, args_full);
    tcase_add_loop_test(tc, args_bad, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, args_help);
    tcase_add_test(tc, args_numbers);
    suite_add_tcase(s, tc);
    tc = tcase_create("generator");
    tcase_add_test(tc, gen_seed_replays);
    tcase_add_test(tc, gen_open_loop_correction);
    suite_add_tcase(s, tc);
    tc = tcase_create("histogram");
    tcase_add_test(tc, hist_buckets);
    tcase_add_test(tc, hist_percentiles_exact);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_add_test(tc, report_verdict);
    tcase_add_test(tc, report_formats);
    tcase_add_test(tc, checkers_reject_bad_input);
    tcase_add_test(tc, report_sections);
    suite_add_tcase(s, tc);
    tc = tcase_create("compare");
    tcase_add_test(tc, json_reader);
    tcase_add_test(tc, compare_reports);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(stress_units_suite)
