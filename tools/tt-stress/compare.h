/* `tt-stress compare OLD.json NEW.json`: what changed between two --json reports — every
 * figure (throughput, latency percentiles per outcome, stream kind and phase, open-loop
 * latency, pool peaks, invariant counters) with its change in percent, and both verdicts. */
#ifndef TT_STRESS_COMPARE_H
#define TT_STRESS_COMPARE_H

#include <stddef.h>
#include <stdio.h>

/* The change from old to new as text: "+25.0%", "-3.3%", "=" (equal), "n/a" (old is 0 and new
 * is not). */
void compare_change(char *buf, size_t len, double old_v, double new_v);

/* Writes the comparison of two report texts (names are for the heading). 0, or -1 with a
 * message in err when either is not a tt-stress JSON report. */
int stress_compare(FILE *out, const char *old_name, const char *old_text, const char *new_name,
                   const char *new_text, char *err, size_t errlen);

#endif
