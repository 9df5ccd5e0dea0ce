/* tt-stress command line: parses "tt-stress [SCENARIO] [OPTIONS]" into a stress_config with
 * per-scenario defaults, and rejects every bad value with one line naming the option. Nothing
 * here prints or exits; main() decides (exit 2 for ARGS_BAD). */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const scenario_names[SC_COUNT_] = {
    "mixed-lite", "offload", "cancel", "timeout", "group", "io", "mixed",
};
static const char *const cost_names[COST_COUNT_] = {
    "fixed", "uniform", "exp", "spin", "read", "fsync",
};
static const char *const mode_names[] = {"default", "abandon", "both"};
/* In tt_backend's order (AUTO, URING, EPOLL): stress_config.backend is that value. */
static const char *const backend_names[] = {"auto", "uring", "epoll"};

const char *stress_scenario_name(stress_scenario s)
{
    return (unsigned)s < SC_COUNT_ ? scenario_names[s] : "?";
}
const char *stress_cost_name(stress_cost c)
{
    return (unsigned)c < COST_COUNT_ ? cost_names[c] : "?";
}
const char *stress_mode_name(stress_mode m)
{
    return (unsigned)m <= MODE_BOTH ? mode_names[m] : "?";
}

const char stress_usage_line[] =
    "usage: tt-stress [mixed-lite|offload|cancel|timeout|group|io|mixed] [OPTIONS] (--help for more)\n"
    "       tt-stress compare OLD.json NEW.json";

static void set_err(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && len)
        vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

int stress_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    /* strtoull accepts "-5" (wrapping it) and leading blanks; a count must be plain digits. */
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return *s == '-' ? -2 : -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v > max)
        return -3;
    *out = v;
    return 0;
}

/* The number that starts s, without a sign (fractions allowed); *end after it. 0, -1 (not a
 * number) or -2 (negative). */
static int parse_unsigned_real(const char *s, double *v, char **end)
{
    if (!s || !*s)
        return -1;
    if (*s == '-')
        return -2;
    if (!(*s >= '0' && *s <= '9') && *s != '.')
        return -1;
    errno = 0;
    *v = strtod(s, end);
    if (*end == s || errno == ERANGE || !isfinite(*v))
        return -1;
    return 0;
}

int stress_parse_duration(const char *s, int64_t *out)
{
    /* A number (fractions allowed) with a unit ns, us, ms or s; a bare number is seconds. */
    char *end;
    double v;
    int rc = parse_unsigned_real(s, &v, &end);
    if (rc < 0)
        return rc;
    double mult;
    if (*end == 0 || strcmp(end, "s") == 0)
        mult = 1e9;
    else if (strcmp(end, "ms") == 0)
        mult = 1e6;
    else if (strcmp(end, "us") == 0)
        mult = 1e3;
    else if (strcmp(end, "ns") == 0)
        mult = 1;
    else
        return -1;
    double ns = v * mult;
    if (ns > 1e17) /* over three years: certainly a typo, and it would overflow deadlines */
        return -3;
    *out = (int64_t)llround(ns);
    return 0;
}

#define RATE_MAX 1e7

int stress_parse_rate(const char *s, double *out)
{
    char *end;
    double v;
    int rc = parse_unsigned_real(s, &v, &end);
    if (rc < 0)
        return rc;
    if (*end && strcmp(end, "/s") != 0)
        return -1;
    if (v <= 0)
        return -2;
    if (v > RATE_MAX)
        return -3;
    *out = v;
    return 0;
}

static int parse_probability(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return -1;
    if (v < 0 || v > 1)
        return -3;
    *out = v;
    return 0;
}

static void defaults(stress_config *c, stress_scenario s)
{
    memset(c, 0, sizeof *c);
    c->scenario = s;
    c->concurrency = 64;
    c->pool_threads = 8;
    c->cost = COST_EXP;
    c->mean_ns = 1000000;
    c->mode = MODE_BOTH;
    c->loops = 1;
    c->seed = 1;
    c->progress = 1;
    switch (s) {
    case SC_MIXED_LITE:
        c->duration_ns = 10000000000LL;
        c->concurrency = 32;
        c->error_rate = 0.02;
        c->cancel_rate = 0.2;
        break;
    case SC_MIXED:
        c->duration_ns = 60000000000LL;
        c->concurrency = 128;
        c->pool_threads = 16;
        c->error_rate = 0.02;
        c->cancel_rate = 0.2;
        break;
    case SC_OFFLOAD:
        c->count = 20000;
        c->mode = MODE_DEFAULT;
        break;
    case SC_CANCEL:
        c->count = 10000;
        c->concurrency = 24; /* a short queue: cancels land queued, running and finishing */
        c->cost = COST_UNIFORM;
        c->cancel_rate = 1.0;
        break;
    case SC_TIMEOUT:
        c->count = 10000;
        c->concurrency = 8; /* no queueing: deadlines race the jobs themselves */
        c->cost = COST_UNIFORM;
        c->mode = MODE_DEFAULT;
        break;
    case SC_GROUP:
        c->count = 10000;
        c->error_rate = 0.05;
        c->mode = MODE_DEFAULT;
        break;
    case SC_IO:
        c->count = 5000; /* episodes: a transfer, a cancelled recv or a timed-out recv */
        c->concurrency = 16;
        c->cancel_rate = 0.3;
        break;
    default:
        break;
    }
}

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int stress_args_parse(int argc, char **argv, stress_config *cfg, char *err, size_t errlen,
                      stress_scenario *help_scenario)
{
    int i = 1;
    stress_scenario sc = SC_MIXED_LITE;
    if (argc > 1 && argv[1][0] != '-') {
        int k = find_name(scenario_names, SC_COUNT_, argv[1]);
        if (k < 0) {
            set_err(err, errlen, "unknown scenario '%s'", argv[1]);
            return ARGS_BAD;
        }
        sc = (stress_scenario)k;
        i = 2;
    }
    defaults(cfg, sc);
    int have_count = 0, have_duration = 0, have_queue = 0;

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (help_scenario)
                *help_scenario = (argc > 1 && argv[1][0] != '-') ? sc : SC_COUNT_;
            return ARGS_HELP;
        }
        if (strcmp(a, "--no-progress") == 0) {
            cfg->progress = 0;
            continue;
        }
        if (strcmp(a, "--tcp-small-buffers") == 0) {
            cfg->tcp_small_buffers = 1;
            continue;
        }
        if (a[0] != '-') {
            set_err(err, errlen, "unexpected argument '%s' (the scenario goes first)", a);
            return ARGS_BAD;
        }
        /* Every other option takes a value: "--opt VALUE" or "--opt=VALUE". */
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        if (eq && a[1] == '-') {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof name)
                n = sizeof name - 1;
            memcpy(name, a, n);
            name[n] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        static const struct { const char *lng, *shrt; } known[] = {
            {"--count", "-n"}, {"--duration", "-d"}, {"--concurrency", "-c"},
            {"--pool-threads", "-p"}, {"--queue-limit", "-q"}, {"--cost", NULL},
            {"--mean", NULL}, {"--error-rate", NULL}, {"--cancel-rate", NULL},
            {"--mode", NULL}, {"--loops", NULL}, {"--seed", NULL}, {"--json", NULL},
            {"--plot", NULL}, {"--rate", NULL}, {"--openmetrics", NULL}, {"--backend", NULL},
        };
        int opt = -1;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strcmp(name, known[k].lng) == 0 || (known[k].shrt && strcmp(name, known[k].shrt) == 0))
                opt = (int)k;
        if (opt < 0) {
            set_err(err, errlen, "unknown option '%s'", name);
            return ARGS_BAD;
        }
        const char *lng = known[opt].lng;
        if (!val) {
            if (i + 1 >= argc) {
                set_err(err, errlen, "option '%s' needs a value", lng);
                return ARGS_BAD;
            }
            val = argv[++i];
        }
        uint64_t u = 0;
        int rc = 0;
        switch (opt) {
        case 0: case 2: case 3: case 4: case 10: case 11: {
            static const uint64_t maxes[] = {[0] = 1000000000000ULL, [2] = 1000000,
                                             [3] = 4096, [4] = 100000000, [10] = 256,
                                             [11] = UINT64_MAX};
            rc = stress_parse_uint(val, maxes[opt], &u);
            if (rc == -1) {
                set_err(err, errlen, "%s: not a number: '%s'", lng, val);
                return ARGS_BAD;
            }
            if (rc == -2) {
                set_err(err, errlen, "%s: must not be negative: '%s'", lng, val);
                return ARGS_BAD;
            }
            if (rc == -3) {
                set_err(err, errlen, "%s: out of range (at most %llu): '%s'", lng,
                        (unsigned long long)maxes[opt], val);
                return ARGS_BAD;
            }
            if (u == 0 && (opt == 0 || opt == 2 || opt == 10)) {
                set_err(err, errlen, "%s: must be at least 1", lng);
                return ARGS_BAD;
            }
            if (opt == 0) {
                cfg->count = u;
                have_count = 1;
            } else if (opt == 2) {
                cfg->concurrency = (unsigned)u;
            } else if (opt == 3) {
                cfg->pool_threads = (unsigned)u;
            } else if (opt == 4) {
                cfg->queue_limit = (size_t)u;
                have_queue = u > 0;
            } else if (opt == 10) {
                cfg->loops = (unsigned)u;
            } else {
                cfg->seed = u;
            }
            break;
        }
        case 1: case 6: {
            int64_t ns = 0;
            rc = stress_parse_duration(val, &ns);
            if (rc == -1) {
                set_err(err, errlen, "%s: not a duration: '%s' (e.g. 10s, 500ms, 100us)", lng, val);
                return ARGS_BAD;
            }
            if (rc == -2) {
                set_err(err, errlen, "%s: must not be negative: '%s'", lng, val);
                return ARGS_BAD;
            }
            if (rc == -3) {
                set_err(err, errlen, "%s: out of range: '%s'", lng, val);
                return ARGS_BAD;
            }
            if (opt == 1) {
                if (ns < 1000000) {
                    set_err(err, errlen, "%s: must be at least 1ms: '%s'", lng, val);
                    return ARGS_BAD;
                }
                cfg->duration_ns = ns;
                have_duration = 1;
            } else {
                cfg->mean_ns = ns;
            }
            break;
        }
        case 5: {
            int k = find_name(cost_names, COST_COUNT_, val);
            if (k < 0) {
                set_err(err, errlen, "--cost: unknown cost model '%s' (fixed|uniform|exp|spin|read|fsync)", val);
                return ARGS_BAD;
            }
            cfg->cost = (stress_cost)k;
            break;
        }
        case 7: case 8: {
            double r = 0;
            rc = parse_probability(val, &r);
            if (rc == -1) {
                set_err(err, errlen, "%s: not a number: '%s'", lng, val);
                return ARGS_BAD;
            }
            if (rc == -3) {
                set_err(err, errlen, "%s: must be between 0 and 1: '%s'", lng, val);
                return ARGS_BAD;
            }
            if (opt == 7)
                cfg->error_rate = r;
            else
                cfg->cancel_rate = r;
            break;
        }
        case 9: {
            int k = find_name(mode_names, 3, val);
            if (k < 0) {
                set_err(err, errlen, "--mode: unknown mode '%s' (default|abandon|both)", val);
                return ARGS_BAD;
            }
            cfg->mode = (stress_mode)k;
            break;
        }
        case 16: {
            int k = find_name(backend_names, 3, val);
            if (k < 0) {
                set_err(err, errlen, "--backend: unknown backend '%s' (auto|uring|epoll)", val);
                return ARGS_BAD;
            }
            cfg->backend = k;
            break;
        }
        case 12: case 13: case 15:
            if (!*val) {
                set_err(err, errlen, "%s: empty file name", lng);
                return ARGS_BAD;
            }
            if (opt == 12)
                cfg->json_path = val;
            else if (opt == 13)
                cfg->plot_path = val;
            else
                cfg->openmetrics_path = val;
            break;
        case 14:
            rc = stress_parse_rate(val, &cfg->rate);
            if (rc == -1) {
                set_err(err, errlen, "%s: not a rate: '%s' (e.g. 5000/s)", lng, val);
                return ARGS_BAD;
            }
            if (rc == -2) {
                set_err(err, errlen, "%s: must be above 0: '%s'", lng, val);
                return ARGS_BAD;
            }
            if (rc == -3) {
                set_err(err, errlen, "%s: out of range (at most %.0f/s): '%s'", lng, RATE_MAX, val);
                return ARGS_BAD;
            }
            break;
        }
    }

    if (have_count && have_duration) {
        set_err(err, errlen, "--count and --duration exclude each other");
        return ARGS_BAD;
    }
    if (have_duration)
        cfg->count = 0;
    if (have_count)
        cfg->duration_ns = 0;
    if (have_queue && cfg->pool_threads == 0) {
        set_err(err, errlen, "--queue-limit needs a pool of its own (--pool-threads >= 1)");
        return ARGS_BAD;
    }
    if (cfg->loops > 1 && cfg->pool_threads == 0) {
        set_err(err, errlen, "--loops %u shares one pool: it needs --pool-threads >= 1", cfg->loops);
        return ARGS_BAD;
    }
    const struct { const char *opt, *path; } outs[] = {
        {"--json", cfg->json_path}, {"--plot", cfg->plot_path}, {"--openmetrics", cfg->openmetrics_path},
    };
    for (int x = 0; x < 3; x++)
        for (int y = x + 1; y < 3; y++)
            if (outs[x].path && outs[y].path && strcmp(outs[x].path, outs[y].path) == 0) {
                set_err(err, errlen, "%s and %s name the same file '%s'", outs[x].opt, outs[y].opt,
                        outs[x].path);
                return ARGS_BAD;
            }
    return ARGS_OK;
}

static const char *const scenario_help[SC_COUNT_] = {
    [SC_MIXED_LITE] =
        "mixed-lite (the default): 10 s of offloads with random durations and random\n"
        "  cancellations, timeouts and groups at low concurrency: a quick health check.\n",
    [SC_OFFLOAD] =
        "offload: N blocking calls (or --duration) through tt_to_thread, --concurrency in\n"
        "  flight; each costs --cost with mean --mean (fixed, uniform [0,2*mean], exp,\n"
        "  spin = CPU busy loop, read = pread 4 KiB of a temp file, fsync = pwrite + fsync).\n",
    [SC_CANCEL] =
        "cancel: cancellation storms: each operation's task is cancelled after a random delay\n"
        "  that lands while the job is queued, running or finishing, in the default mode and\n"
        "  with TT_JOB_ABANDON_ON_CANCEL (--mode). Checks that a running job's argument (on\n"
        "  the awaiting task's stack, between canaries) stays valid until the job returns, and\n"
        "  that the result of a job that ran reaches its awaiter (odd ids asked to stop end\n"
        "  -ECANCELED by choice); only abandoned jobs go to discard.\n",
    [SC_TIMEOUT] =
        "timeout: tt_wait_for and tt_timeout_enter/exit scopes with random deadlines racing\n"
        "  the jobs' completions; checks that a timeout never fires before its deadline.\n",
    [SC_GROUP] =
        "group: TaskGroups of 2-8 children, some nested, children failing at random\n"
        "  (--error-rate); checks join's result and the error list against what failed.\n",
    [SC_IO] =
        "io: --concurrency workers each own a byte stream (pipe, unix socketpair or loopback\n"
        "  TCP on 127.0.0.1) and run N episodes: a transfer of sequence-numbered data through\n"
        "  tt_read/tt_write/tt_recv/tt_send whose reader and writer tasks are cancelled at\n"
        "  random (--cancel-rate) and wrapped in timeout scopes and tt_wait_for (deadlines\n"
        "  around --mean); a recv nobody writes to, cancelled after a random delay; or one\n"
        "  timed out. Checks every byte arrives once and in order, that a cancelled call\n"
        "  returns -ECANCELED or its data (then the cancel comes at the next suspension).\n"
        "  Pipes and socketpairs get 4 KiB buffers (writers block, reads come back partial);\n"
        "  TCP keeps the kernel's default buffers (see --tcp-small-buffers). io-ok latency is\n"
        "  also reported per stream kind (pipe, unix, tcp).\n",
    [SC_MIXED] =
        "mixed: all of the above at once for --duration (default 60 s): the soak.\n",
};

void stress_help(stress_scenario s, char *buf, size_t len)
{
    char intro[4096] = "";
    if ((unsigned)s < SC_COUNT_) {
        snprintf(intro, sizeof intro, "%s", scenario_help[s]);
    } else {
        size_t off = 0;
        off += (size_t)snprintf(intro + off, sizeof intro - off,
                                "tt-stress: load tothread with offloads, cancellations, timeouts and\n"
                                "groups and IO on the ring; report throughput, latency and that nothing was lost.\n\nscenarios:\n");
        for (int k = 0; k < SC_COUNT_ && off < sizeof intro; k++)
            off += (size_t)snprintf(intro + off, sizeof intro - off, "%s", scenario_help[k]);
    }
    snprintf(buf, len,
             "%s\n%s\n\n"
             "options (DUR: a number with ns|us|ms|s, bare = seconds):\n"
             "  -n, --count N          operations in total (offload/cancel/timeout/group/io default;\n"
             "                         io counts episodes)\n"
             "  -d, --duration DUR     run for DUR instead (mixed default 60s, mixed-lite 10s)\n"
             "  -c, --concurrency N    operations in flight per loop\n"
             "  -p, --pool-threads N   worker threads of the shared pool (0: each loop's default pool)\n"
             "  -q, --queue-limit N    bounded pool queue (backpressure); needs --pool-threads >= 1\n"
             "      --cost MODEL       fixed|uniform|exp|spin|read|fsync\n"
             "      --mean DUR         the cost model's mean duration (io: the delays' scale)\n"
             "      --error-rate P     probability (0..1) that a job or group child fails\n"
             "      --cancel-rate P    probability that an offload/io/mixed operation is cancelled\n"
             "      --mode M           default|abandon|both: TT_JOB_ABANDON_ON_CANCEL or not\n"
             "      --loops N          N loops on N threads sharing one pool\n"
             "      --backend B        auto|uring|epoll: the loops' backend (default auto: the\n"
             "                         TT_BACKEND environment variable, else io_uring, else epoll);\n"
             "                         the report names the one the loops got\n"
             "      --seed N           random seed (default 1), printed in every report: each worker\n"
             "                         draws its operations and cancel points from its own stream of\n"
             "                         it, so the same seed replays the same plans (the order in which\n"
             "                         the threads finish them stays up to timing)\n"
             "      --rate N[/s]       open loop: start N units of work per second in all (an\n"
             "                         operation, a group or an io episode), spread over the workers,\n"
             "                         instead of each worker starting the next as the last ends;\n"
             "                         --concurrency still caps what is in flight. Reports each unit's\n"
             "                         latency from its intended start (corrected for coordinated\n"
             "                         omission, as wrk2 does) and from its real start (uncorrected);\n"
             "                         the live line shows how late the run is against its schedule\n"
             "      --tcp-small-buffers io: 4 KiB SO_SNDBUF/SO_RCVBUF on TCP streams as on the others.\n"
             "                         Shows a kernel artefact on purpose: on loopback (MSS 32-64 KiB)\n"
             "                         the sender holds a segment larger than the peer's window and\n"
             "                         waits for the persist timer, so the tcp row's tail gets steps of\n"
             "                         200 ms, 400 ms... that pipes and socketpairs never show\n"
             "      --json FILE        write the report as JSON (input of `tt-stress compare`)\n"
             "      --openmetrics FILE write the report in the OpenMetrics/Prometheus text format\n"
             "      --plot FILE.svg    write latency percentile plots (outcomes, stream kinds, phases,\n"
             "                         open loop)\n"
             "      --no-progress      no live progress line\n\n"
             "tt-stress compare OLD.json NEW.json: the change of every figure of two --json reports\n"
             "  (throughput, latency percentiles, phases, invariants) in percent; exits 0, or 2\n"
             "  when either file is not a tt-stress JSON report.\n\n"
             "exit status: 0 all invariants hold, 1 an invariant failed (named), 2 bad arguments.\n",
             intro, stress_usage_line);
}
