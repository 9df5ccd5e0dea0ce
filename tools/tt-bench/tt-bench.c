/* tt-bench: command line, result collection and --json output for the benchmark workloads.
 * Each workload runs in a child process of its own, so peak RSS (W6) and thread pools of one
 * workload never leak into the next when several are run ("tt-bench all"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* ------------------------------------------------------------------------- helpers */

static int out_fd = STDOUT_FILENO; /* the child's end of the collector pipe */
static tt_backend backend_opt;     /* --backend (AUTO: TT_BACKEND, else io_uring, else epoll) */
static const char *backend_used;   /* what the workload's loop got, added to its lines */

void emit(const char *workload, const char *system, const char *fmt, ...)
{
    char line[1024];
    int len = snprintf(line, sizeof line, "%s %s ", workload, system);
    va_list ap;
    va_start(ap, fmt);
    len += vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
    va_end(ap);
    if (backend_used && len < (int)sizeof line)
        len += snprintf(line + len, sizeof line - (size_t)len, " backend=%s", backend_used);
    if (len >= (int)sizeof line - 1)
        len = (int)sizeof line - 2;
    line[len++] = '\n';
    /* One write per line: the collector never sees half a line from a pipe of this size. */
    for (ssize_t off = 0; off < len;) {
        ssize_t w = write(out_fd, line + off, (size_t)(len - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tt-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _exit(1);
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long proc_status(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kl = strlen(key);
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

long vmrss_kib(void)
{
    return proc_status("VmRSS");
}

long peak_rss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

uint64_t cpu_ns(void)
{
    /* The process clock counts every thread, pool workers included: what "idle" must bound. */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

intptr_t run_main(tt_pool *pool, tt_fn fn, void *arg)
{
    tt_loop_opts opts = {.pool = pool, .backend = backend_opt};
    tt_loop *loop = tt_loop_new(&opts);
    if (!loop)
        die("tt_loop_new: %s", strerror(errno));
    backend_used = tt_loop_backend(loop);
    tt_future *f = tt_spawn_on(loop, NULL, fn, arg);
    if (!f)
        die("tt_spawn_on: %s", strerror(errno));
    intptr_t rc = tt_loop_run_until(loop, f);
    int frc = tt_loop_free(loop);
    if (frc != 0)
        die("tt_loop_free: %s", tt_strerror(frc));
    return rc;
}

tt_pool *fixed_pool(unsigned n, const char *name)
{
    tt_pool_opts o = {.min_threads = n, .max_threads = n, .idle_timeout = TT_SEC(60), .name = name};
    tt_pool *p = tt_pool_new(&o);
    if (!p)
        die("tt_pool_new(%u): %s", n, strerror(errno));
    return p;
}

void pool_release(tt_pool *pool)
{
    int rc = tt_pool_free(pool);
    if (rc != 0)
        die("tt_pool_free: %s", tt_strerror(rc));
}

/* ---------------------------------------------------------------- the workload table */

typedef struct workload {
    const char *id;
    int (*run)(long n);
    int (*run_warm)(long n); /* --warm: cold round then warm round; NULL if not offered */
} workload;

static const workload WORKLOADS[] = {
    {"W1", w1_offload_throughput, NULL}, {"W2", w2_offload_latency, NULL},
    {"W3", w3_blocking_sleep, NULL},     {"W4", w4_spawn_join, NULL},
    {"W5", w5_switch, NULL},             {"W6", w6_idle_tasks, w6_idle_tasks_warm},
    {"W7", w7_timeouts, w7_timeouts_warm},
};
enum { NWORK = sizeof WORKLOADS / sizeof WORKLOADS[0] };

static const workload *find_workload(const char *id)
{
    for (int i = 0; i < NWORK; i++)
        if (strcasecmp(id, WORKLOADS[i].id) == 0)
            return &WORKLOADS[i];
    return NULL;
}

/* ------------------------------------------------------------------- result collection */

static char *collected;      /* every result line, for --json */
static size_t collected_len, collected_cap;

static void collect(const char *buf, size_t n)
{
    if (collected_len + n + 1 > collected_cap) {
        size_t cap = collected_cap ? collected_cap * 2 : 4096;
        while (cap < collected_len + n + 1)
            cap *= 2;
        char *p = realloc(collected, cap);
        if (!p)
            die("out of memory");
        collected = p;
        collected_cap = cap;
    }
    memcpy(collected + collected_len, buf, n);
    collected_len += n;
    collected[collected_len] = '\0';
}

/* Runs one workload in a child; echoes and collects its lines. 0 if it exited cleanly. */
static int run_child(const workload *w, long n, int warm)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        out_fd = fds[1];
        int rc = warm ? w->run_warm(n) : w->run(n);
        fflush(stdout);
        fflush(stderr);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    char buf[4096];
    for (;;) {
        ssize_t r = read(fds[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        fwrite(buf, 1, (size_t)r, stdout);
        fflush(stdout);
        collect(buf, (size_t)r);
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "tt-bench: %s died of signal %d (%s)\n", w->id, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    else
        fprintf(stderr, "tt-bench: %s failed (exit %d)\n", w->id, WEXITSTATUS(status));
    return 1;
}

static void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* A value is written as a JSON number when all of it parses as one (strtod also takes "inf"
 * and "nan", which JSON cannot carry, so those stay strings). */
static void json_value(FILE *f, const char *s, size_t n)
{
    char tmp[64];
    if (n > 0 && n < sizeof tmp) {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        char *end;
        errno = 0;
        double d = strtod(tmp, &end);
        if (*end == '\0' && errno == 0 && d == d && d - d == 0 &&
            strspn(tmp, "0123456789+-.eE") == n) {
            fputs(tmp, f);
            return;
        }
    }
    json_string(f, s, n);
}

static int write_json(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "tt-bench: %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f, "{\n  \"system\": \"%s\",\n  \"version\": \"%d.%d.%d\",\n  \"results\": [", SYSTEM,
            TT_VERSION_MAJOR, TT_VERSION_MINOR, TT_VERSION_PATCH);
    int first = 1;
    const char *p = collected ? collected : "";
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *line_end = p + len;
        /* "<workload> <system> k=v ..." */
        const char *sp1 = memchr(p, ' ', len);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
        if (sp1 && sp2) {
            fprintf(f, "%s\n    {\"workload\": ", first ? "" : ",");
            first = 0;
            json_string(f, p, (size_t)(sp1 - p));
            fputs(", \"system\": ", f);
            json_string(f, sp1 + 1, (size_t)(sp2 - sp1 - 1));
            fputs(", \"metrics\": {", f);
            int firstkv = 1;
            const char *q = sp2 + 1;
            while (q < line_end) {
                const char *tok_end = memchr(q, ' ', (size_t)(line_end - q));
                if (!tok_end)
                    tok_end = line_end;
                const char *eq = memchr(q, '=', (size_t)(tok_end - q));
                if (eq) {
                    fputs(firstkv ? "" : ", ", f);
                    firstkv = 0;
                    json_string(f, q, (size_t)(eq - q));
                    fputs(": ", f);
                    json_value(f, eq + 1, (size_t)(tok_end - eq - 1));
                }
                q = tok_end + 1;
            }
            fputs("}}", f);
        }
        p = eol ? eol + 1 : line_end;
    }
    fputs("\n  ]\n}\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "tt-bench: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: tt-bench [--json FILE] [--backend auto|uring|epoll] WORKLOAD [--warm] [N]\n"
          "                [WORKLOAD [--warm] [N] ...]\n"
          "       tt-bench [--json FILE] [--backend auto|uring|epoll] all\n"
          "WORKLOAD: W1 offload throughput (N=200000, pool 4)   W2 offload latency (N=20000,\n"
          "          pool 4; then IDLE: CPU used in 1 s idle)    W3 1000 x usleep(10 ms), pool 64\n"
          "          W4 spawn-join (N=1000000)                   W5 switch (N=1000000 round trips)\n"
          "          W6 idle tasks sleeping 1 s (N=100000)       W7 wait_for timeouts (N=100000)\n"
          "Each prints one line: <workload> tothread key=value ... backend=io_uring|epoll.\n"
          "--backend: the loops' backend (default auto: TT_BACKEND, else io_uring, else epoll).\n"
          "--warm (W6, W7): run the workload twice in one process, the second round on recycled\n"
          "          stacks, and print both (the second as tothread-warm).\n",
          f);
}

int main(int argc, char **argv)
{
    const char *json = NULL;
    const workload *sel[64];
    long ns[64];
    int warm[64];
    int nsel = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0 && i + 1 < argc) {
            json = argv[++i];
        } else if (strncmp(a, "--json=", 7) == 0) {
            json = a + 7;
        } else if (strcmp(a, "--backend") == 0 || strncmp(a, "--backend=", 10) == 0) {
            const char *v = a[9] == '=' ? a + 10 : i + 1 < argc ? argv[++i] : "";
            if (strcmp(v, "auto") == 0)
                backend_opt = TT_BACKEND_AUTO;
            else if (strcmp(v, "uring") == 0)
                backend_opt = TT_BACKEND_URING;
            else if (strcmp(v, "epoll") == 0)
                backend_opt = TT_BACKEND_EPOLL;
            else {
                fprintf(stderr, "tt-bench: --backend: unknown backend '%s' (auto|uring|epoll)\n", v);
                return 2;
            }
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcasecmp(a, "all") == 0) {
            for (int k = 0; k < NWORK && nsel < 64; k++) {
                sel[nsel] = &WORKLOADS[k];
                warm[nsel] = 0;
                ns[nsel++] = 0;
            }
        } else if (find_workload(a)) {
            if (nsel == 64)
                die("too many workloads");
            sel[nsel] = find_workload(a);
            ns[nsel] = 0;
            warm[nsel] = 0;
            if (i + 1 < argc && strcmp(argv[i + 1], "--warm") == 0) {
                if (!sel[nsel]->run_warm) {
                    fprintf(stderr, "tt-bench: %s has no --warm variant\n", sel[nsel]->id);
                    return 2;
                }
                warm[nsel] = 1;
                i++;
            }
            if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
                char *end;
                ns[nsel] = strtol(argv[++i], &end, 10);
                if (*end || ns[nsel] <= 0) {
                    fprintf(stderr, "tt-bench: bad count %s\n", argv[i]);
                    return 2;
                }
            }
            nsel++;
        } else {
            fprintf(stderr, "tt-bench: unknown argument %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (nsel == 0) {
        usage(stderr);
        return 2;
    }
    int failed = 0;
    for (int i = 0; i < nsel; i++)
        failed |= run_child(sel[i], ns[i], warm[i]);
    if (json)
        failed |= write_json(json);
    return failed ? 1 : 0;
}
