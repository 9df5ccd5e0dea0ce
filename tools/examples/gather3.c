/* gather3 — offload three blocking calls to the worker pool and gather their results.
 *
 * Each call blocks its worker thread for 100 ms; the loop runs them side by side, so the whole
 * gather takes about 100 ms, not 300. Build: cc gather3.c $(pkg-config --cflags --libs tothread)
 */
#include <stdio.h>
#include <unistd.h>
#include <tothread.h>

/* A blocking function: runs on a worker thread, never on the loop. */
static intptr_t slow_square(void *arg)
{
    intptr_t x = (intptr_t)arg;
    usleep(100 * 1000); /* stands in for a sync database call, getaddrinfo, fsync... */
    return x * x;
}

/* The main task: runs on the loop; tt_gather suspends it until all three calls are done. */
static intptr_t main_task(void *arg)
{
    (void)arg;
    tt_future *calls[3];
    intptr_t results[3];
    int64_t start = tt_now();

    for (int i = 0; i < 3; i++) {
        calls[i] = tt_to_thread(slow_square, (void *)(intptr_t)(i + 1));
        if (calls[i] == NULL) { /* NULL + errno: EPERM, ENOMEM, ESHUTDOWN... */
            while (i-- > 0)
                tt_unref(calls[i]);
            return -errno;
        }
    }
    int rc = tt_gather(calls, 3, results, 0); /* 0, or the first failure */
    for (int i = 0; i < 3; i++)
        tt_unref(calls[i]); /* tt_gather borrows: drop our references */
    if (rc < 0)
        return rc;

    printf("results %ld %ld %ld in %ld ms\n", (long)results[0], (long)results[1],
           (long)results[2], (long)((tt_now() - start) / TT_MS(1)));
    return 0;
}

int main(void)
{
    intptr_t result = 0;
    int rc = tt_run(main_task, NULL, &result); /* a loop on this thread, main_task as a task */
    if (rc < 0 || result < 0) {
        fprintf(stderr, "gather3: %s\n", tt_strerror(rc < 0 ? rc : result));
        return 1;
    }
    return 0;
}
