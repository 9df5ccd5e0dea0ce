/* A bounded parallel file hasher: N files, at most K reads-and-hashes in flight on the worker
 * pool, results taken as they complete (tt_as_completed) with a progress line.
 *
 *   example-hasher [-k K] [FILE...]      (no files: hashes this program's own binary 8 times)
 *
 * Each file is read and hashed (FNV-1a 64) by a blocking function on a worker thread; a
 * semaphore caps how many run at once, so a million file names do not mean a million jobs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tothread.h>

typedef struct file_job {
    const char *path;
    uint64_t hash;
    size_t bytes;
    tt_semaphore *slots; /* one permit per job in flight */
} file_job;

/* Blocking: read the whole file and hash it. Stops early if the awaiting side gave up. */
static intptr_t hash_file(void *arg)
{
    file_job *j = arg;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint64_t h = 1469598103934665603ull;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && !tt_job_cancelled()) {
        for (ssize_t i = 0; i < n; i++)
            h = (h ^ (unsigned char)buf[i]) * 1099511628211ull;
        j->bytes += (size_t)n;
    }
    int err = n < 0 ? -errno : 0;
    close(fd);
    j->hash = h;
    return err;
}

/* A task per file: wait for a slot, offload, give the slot back. */
static intptr_t hash_task(void *arg)
{
    file_job *j = arg;
    int rc = tt_semaphore_acquire(j->slots);
    if (rc < 0)
        return rc;
    intptr_t r = tt_await(tt_to_thread(hash_file, j));
    tt_semaphore_release(j->slots);
    return r;
}

typedef struct run { file_job *jobs; size_t n; unsigned k; } run;

static intptr_t main_task(void *arg)
{
    run *r = arg;
    tt_semaphore *slots = tt_semaphore_new(r->k);
    tt_future **fs = calloc(r->n, sizeof *fs);
    if (slots == NULL || fs == NULL) {
        tt_semaphore_free(slots);
        free(fs);
        return -ENOMEM;
    }
    size_t spawned = 0;
    intptr_t err = 0;
    for (; spawned < r->n; spawned++) {
        r->jobs[spawned].slots = slots;
        if ((fs[spawned] = tt_spawn(hash_task, &r->jobs[spawned])) == NULL) {
            err = -errno;
            break;
        }
    }
    tt_as_completed *it = err == 0 ? tt_as_completed_new(fs, spawned, TT_SEC(60)) : NULL;
    size_t done = 0, failed = 0, bytes = 0;
    tt_future *f;
    size_t idx;
    int more;
    while (it != NULL && (more = tt_as_completed_next(it, &f, &idx)) != 0) {
        if (more < 0) {
            err = more;
            break;
        }
        file_job *j = &r->jobs[idx]; /* the inputs are distinct: index i is fs[i] */
        done++;
        if (tt_result(f) < 0) {
            failed++;
            fprintf(stderr, "\n%s: %s\n", j->path, tt_strerror(tt_result(f)));
        } else {
            bytes += j->bytes;
        }
        fprintf(stderr, "\r[%zu/%zu] %zu bytes hashed, %zu failed", done, spawned, bytes, failed);
    }
    fprintf(stderr, "\n");
    for (size_t i = 0; i < spawned; i++) {
        if (tt_result(fs[i]) >= 0)
            printf("%016llx  %s\n", (unsigned long long)r->jobs[i].hash, r->jobs[i].path);
        tt_cancel(fs[i], NULL); /* only matters after a timeout */
        tt_await(tt_ref(fs[i]));
        tt_unref(fs[i]);
    }
    tt_as_completed_free(it);
    tt_semaphore_free(slots);
    free(fs);
    return err < 0 ? err : (intptr_t)failed;
}

int main(int argc, char **argv)
{
    unsigned k = 4;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "-k") == 0) {
        k = (unsigned)atoi(argv[2]);
        first = 3;
    }
    if (k == 0) {
        fprintf(stderr, "usage: %s [-k K>0] [FILE...]\n", argv[0]);
        return 2;
    }
    size_t n = argc > first ? (size_t)(argc - first) : 8;
    file_job *jobs = calloc(n, sizeof *jobs);
    if (jobs == NULL)
        return 1;
    for (size_t i = 0; i < n; i++)
        jobs[i].path = argc > first ? argv[first + i] : "/proc/self/exe";
    run r = {jobs, n, k};
    intptr_t result = 0;
    int rc = tt_run(main_task, &r, &result);
    free(jobs);
    if (rc < 0 || result < 0) {
        fprintf(stderr, "hasher: %s\n", tt_strerror(rc < 0 ? rc : result));
        return 1;
    }
    return result == 0 ? 0 : 1;
}
