/* tt-fuzz: runs the random API-sequence interpreter for a range of seeds, each under a watchdog.
 *   tt-fuzz --seeds A..B [--actors N] [--ops N] [--watchdog SECONDS]
 * Exit 0 when every seed held; 1 naming the first failing seed (rerun it alone with
 * --seeds N..N); 2 for bad arguments. A hang ends in the watchdog: a dump of the live tasks and
 * an abort. Debugging: TT_FUZZ_TRACE=1 prints every operation, TT_FUZZ_OPS=MASK draws only the
 * operations whose bits are set (the numbers in interp.c's actor()). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp.h"

static volatile uint64_t current_seed;

static void on_alarm(int sig)
{
    (void)sig;
    char m[96];
    int n = snprintf(m, sizeof m, "tt-fuzz: seed %" PRIu64 " hung (watchdog)\n", current_seed);
    (void)!write(2, m, (size_t)n);
    fuzz_dump(); /* not async-signal-safe, but the process is about to die anyway */
    abort();
}

static int usage(void)
{
    fprintf(stderr, "usage: tt-fuzz --seeds A..B [--actors N] [--ops N] [--watchdog SECONDS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    uint64_t a = 1, b = 100;
    int actors = 4, ops = 24;
    unsigned watchdog = 30;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--seeds") && v) {
            if (sscanf(v, "%" SCNu64 "..%" SCNu64, &a, &b) != 2 || b < a)
                return usage();
        } else if (!strcmp(argv[i], "--actors") && v) {
            actors = atoi(v);
        } else if (!strcmp(argv[i], "--ops") && v) {
            ops = atoi(v);
        } else if (!strcmp(argv[i], "--watchdog") && v) {
            watchdog = (unsigned)atoi(v);
        } else {
            return usage();
        }
        i++;
    }
    if (actors < 1 || ops < 1 || watchdog < 1)
        return usage();
    signal(SIGALRM, on_alarm);
    for (uint64_t s = a;; s++) {
        char why[256];
        current_seed = s;
        alarm(watchdog);
        if (fuzz_run_seed(s, actors, ops, why, sizeof why) != 0) {
            fprintf(stderr, "tt-fuzz: seed %" PRIu64 " failed: %s\n(rerun: tt-fuzz --seeds %"
                    PRIu64 "..%" PRIu64 " --actors %d --ops %d)\n", s, why, s, s, actors, ops);
            return 1;
        }
        alarm(0);
        if (s == b)
            break;
    }
    printf("tt-fuzz: seeds %" PRIu64 "..%" PRIu64 " held (%d actors, %d ops)\n", a, b, actors, ops);
    return 0;
}
