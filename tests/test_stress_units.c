/* tt-stress's pure parts: argument parsing (every bad-argument case, with its message), the
 * log-linear histogram's arithmetic (bucket boundaries, exact percentiles of known data) and
 * the report's verdict, JSON and SVG formatting. No loop is needed. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "args.h"
#include "histogram.h"
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
                                    "--cancel-rate=0.5 --mode abandon --loops 3 --no-progress"),
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
    {"--error-rate 1.5", "--error-rate: must be between 0 and 1: '1.5'"},
    {"--cancel-rate x", "--cancel-rate: not a number: 'x'"},
    {"-n 5 -d 1s", "--count and --duration exclude each other"},
    {"-q 4 -p 0", "--queue-limit needs a pool of its own (--pool-threads >= 1)"},
    {"--loops 2 -p 0", "--loops 2 shares one pool: it needs --pool-threads >= 1"},
    {"--json a --plot a", "--json and --plot name the same file 'a'"},
    {"--json=", "--json: empty file name"},
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
    char text[8192];
    stress_help(SC_IO, text, sizeof text);
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
    ck_assert_ptr_nonnull(strstr(text, "tt-stress report: offload"));
    ck_assert_ptr_nonnull(strstr(text, "throughput 50 ops/s"));
    ck_assert_ptr_nonnull(strstr(text, "50.2 us")); /* p50 of 1..100 us: bucket [49664, 50175] */
    ck_assert_ptr_nonnull(strstr(text, "result: PASS"));
    free(text);

    char *json = render(report_json, r);
    ck_assert_ptr_nonnull(strstr(json, "\"scenario\": \"offload\""));
    ck_assert_ptr_nonnull(strstr(json, "\"settings\": \"100 operations, \\\"quoted\\\"\""));
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
    tc = tcase_create("histogram");
    tcase_add_test(tc, hist_buckets);
    tcase_add_test(tc, hist_percentiles_exact);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_add_test(tc, report_verdict);
    tcase_add_test(tc, report_formats);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(stress_units_suite)
