/* The fuzz interpreter shared by tt-fuzz (seeded runs) and the libFuzzer entry (byte input). */
#ifndef TT_FUZZ_INTERP_H
#define TT_FUZZ_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include "tothread.h"

/* One run: `actors` tasks drawing `ops` operations each from the generator seeded with seed.
 * 0 if every check held, else -1 with the first violation in why. */
int fuzz_run_seed(uint64_t seed, int actors, int ops, char *why, size_t whylen);
/* The same with operations drawn from data (the libFuzzer entry). */
int fuzz_run_bytes(const uint8_t *data, size_t len, char *why, size_t whylen);
/* For the watchdog, on the loop thread: lists the live tasks of the running loop. */
void fuzz_dump(void);

#endif
