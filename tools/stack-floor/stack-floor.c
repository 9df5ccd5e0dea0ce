/* stack-floor: the kernel's share of W6 and W7 cold for any runtime that gives each waiting task
 * a guarded stack of its own, measured with no runtime at all. It does only what tothread's stack
 * pool cannot avoid, on the same two threads (the loop and tt-stacks), then waits as long as the
 * workload's last task must. bench-compare.sh runs it beside tt-bench and the peers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* tothread's defaults (src/stack.c): 64 KiB stacks above 64 KiB guards, chunks of 1024 slots,
 * guards installed 256 ranges per process_madvise call. */
#define STACK (64u * 1024)
#define GUARD (64u * 1024)
#define SLOT ((size_t)STACK + GUARD)
#define CHUNK 1024u
#define BATCH 256u
#define THREADS 2

static long nstacks;
static atomic_long next_chunk;
static int self_pidfd = -1;
static atomic_int guards_ok = 1;

static void die(const char *what)
{
    fprintf(stderr, "stack-floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Guards n slots from base: one range per stack, as a pool of separate stacks needs. */
static void install_guards(char *base, unsigned n)
{
    struct iovec iov[BATCH];
    for (unsigned done = 0; done < n; done += BATCH) {
        unsigned k = n - done < BATCH ? n - done : BATCH;
        for (unsigned i = 0; i < k; i++) {
            iov[i].iov_base = base + (size_t)(done + i) * SLOT;
            iov[i].iov_len = GUARD;
        }
        if (self_pidfd >= 0 &&
            syscall(SYS_process_madvise, self_pidfd, iov, k, MADV_GUARD_INSTALL, 0) == (long)k * GUARD)
            continue;
        for (unsigned i = 0; i < k; i++) /* a kernel without the batched call */
            if (madvise(iov[i].iov_base, GUARD, MADV_GUARD_INSTALL) != 0)
                atomic_store(&guards_ok, 0); /* before 6.13: measured without guards */
    }
}

/* Takes chunks until nstacks stacks are made: map, guard, write each stack's top page (where a
 * new task's first frames go). The chunks stay mapped until the process exits. */
static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        long c = atomic_fetch_add(&next_chunk, 1);
        long first = c * (long)CHUNK;
        if (first >= nstacks)
            return NULL;
        unsigned n = nstacks - first < (long)CHUNK ? (unsigned)(nstacks - first) : CHUNK;
        char *base = mmap(NULL, SLOT * n, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (base == MAP_FAILED)
            die("mmap");
        install_guards(base, n);
        for (unsigned i = 0; i < n; i++)
            *(volatile char *)(base + (size_t)(i + 1) * SLOT - 1) = 0;
    }
}

int main(int argc, char **argv)
{
    long wait_ms;
    if (argc >= 2 && strcmp(argv[1], "W6") == 0) {
        nstacks = 1000000; /* each task sleeps 1 s */
        wait_ms = 1000;
    } else if (argc >= 2 && strcmp(argv[1], "W7") == 0) {
        nstacks = 100000; /* the last task's timeout is up to 50 ms */
        wait_ms = 50;
    } else {
        fprintf(stderr, "usage: stack-floor W6|W7 [N]\n"
                        "  N guarded 64 KiB stacks made as tothread's pool makes them, on two "
                        "threads,\n  then the workload's wait (W6: 1 s, W7: 50 ms); prints wall_s "
                        "and prep_s.\n");
        return 2;
    }
    char *end = NULL;
    if (argc >= 3 && ((nstacks = strtol(argv[2], &end, 10)) <= 0 || *end != '\0')) {
        fprintf(stderr, "stack-floor: N must be a positive count\n");
        return 2;
    }
    self_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);

    uint64_t t0 = now_ns();
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        if ((errno = pthread_create(&th[i], NULL, worker, NULL)) != 0)
            die("pthread_create");
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    uint64_t t1 = now_ns();
    struct timespec w = {wait_ms / 1000, wait_ms % 1000 * 1000000};
    nanosleep(&w, NULL);
    uint64_t t2 = now_ns();
    printf("%s stack-floor n=%ld wall_s=%.4f prep_s=%.4f threads=%d guards=%d\n", argv[1], nstacks,
           (double)(t2 - t0) / 1e9, (double)(t1 - t0) / 1e9, THREADS, atomic_load(&guards_ok));
    return 0;
}
