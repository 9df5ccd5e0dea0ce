/* tt-stress entry point: parses the command line, runs the scenario, prints the report (and
 * writes --json / --openmetrics / --plot), and turns the invariants into the exit status: 0 all
 * held, 1 one failed (named on stderr), 2 bad arguments. `tt-stress compare` diffs two reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "stress.h"

/* A whole file in a NUL-terminated buffer (a report is tens of KiB; 16 MiB is plenty). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (ferror(f) || len + 1 < cap)
            break;
        char *more = cap < (1u << 24) ? realloc(buf, cap * 2) : NULL;
        if (!more) {
            free(buf);
            buf = NULL;
            errno = EFBIG;
            break;
        }
        buf = more;
        cap *= 2;
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

static int compare_main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "tt-stress: compare needs two reports: tt-stress compare OLD.json NEW.json\n");
        return 2;
    }
    char *texts[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++)
        if (!(texts[i] = slurp(argv[2 + i]))) {
            fprintf(stderr, "tt-stress: compare: cannot read '%s': %s\n", argv[2 + i], strerror(errno));
            free(texts[0]);
            return 2;
        }
    char err[300];
    int rc = stress_compare(stdout, argv[2], texts[0], argv[3], texts[1], err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "tt-stress: compare: %s\n", err);
    free(texts[0]);
    free(texts[1]);
    return rc < 0 ? 2 : 0;
}

static int write_file(const char *path, int (*fn)(FILE *, const stress_report *),
                      const stress_report *r, const char *what)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "tt-stress: cannot write %s '%s': %s\n", what, path, strerror(errno));
        return -1;
    }
    int rc = fn(f, r);
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "tt-stress: error writing %s '%s'\n", what, path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "compare") == 0)
        return compare_main(argc, argv);
    stress_config cfg;
    char err[256];
    stress_scenario help_for = SC_COUNT_;
    int prc = stress_args_parse(argc, argv, &cfg, err, sizeof err, &help_for);
    if (prc == ARGS_HELP) {
        char help[16384];
        stress_help(help_for, help, sizeof help);
        fputs(help, stdout);
        return 0;
    }
    if (prc != ARGS_OK) {
        fprintf(stderr, "tt-stress: %s\n%s\n", err, stress_usage_line);
        return 2;
    }

    /* The report holds seven histograms (about 200 KiB): not for the stack. */
    stress_report *rep = malloc(sizeof *rep);
    if (!rep) {
        fprintf(stderr, "tt-stress: out of memory\n");
        return 1;
    }
    report_init(rep);
    int rc = stress_run(&cfg, rep);
    if (rc < 0) {
        fprintf(stderr, "tt-stress: the run could not be set up: %s\n", tt_strerror(rc));
        free(rep);
        return 1;
    }
    report_print(stdout, rep);
    fflush(stdout);
    int io_bad = 0;
    if (cfg.json_path && write_file(cfg.json_path, report_json, rep, "JSON report") < 0)
        io_bad = 1;
    if (cfg.openmetrics_path &&
        write_file(cfg.openmetrics_path, report_openmetrics, rep, "OpenMetrics report") < 0)
        io_bad = 1;
    if (cfg.plot_path && write_file(cfg.plot_path, report_svg, rep, "plot") < 0)
        io_bad = 1;

    char failed[200];
    int nfail = report_failures(rep, failed, sizeof failed);
    if (nfail) {
        fprintf(stderr, "tt-stress: INVARIANT FAILED: %s%s%s%s\n", failed,
                rep->inject[0] ? " (fault injected: TT_STRESS_INJECT=" : "", rep->inject,
                rep->inject[0] ? ")" : "");
    }
    free(rep);
    return nfail || io_bad ? 1 : 0;
}
