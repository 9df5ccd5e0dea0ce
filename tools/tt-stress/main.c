/* tt-stress entry point: parses the command line, runs the scenario, prints the report (and
 * writes --json / --plot), and turns the invariants into the exit status: 0 all held, 1 one
 * failed (named on stderr), 2 bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"

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
    stress_config cfg;
    char err[256];
    stress_scenario help_for = SC_COUNT_;
    int prc = stress_args_parse(argc, argv, &cfg, err, sizeof err, &help_for);
    if (prc == ARGS_HELP) {
        char help[8192];
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
