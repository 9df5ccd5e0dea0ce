/* A program that uses tothread as an outside project would: through the installed header and
 * library only. It offloads a call, awaits it, sleeps, and checks that nothing leaked. */
#include <stdio.h>
#include <string.h>
#include <tothread.h>

static intptr_t add_one(void *arg) { return (intptr_t)arg + 1; }

static intptr_t main_task(void *arg)
{
    intptr_t r = tt_await(tt_to_thread(add_one, arg));
    if (r < 0)
        return r;
    int s = tt_sleep(TT_MS(1));
    return s < 0 ? s : r;
}

int main(void)
{
    intptr_t result = -1;
    int rc = tt_run(main_task, (void *)(intptr_t)41, &result);
    if (rc != 0 || result != 42) {
        fprintf(stderr, "consumer: tt_run %d, result %ld (%s)\n", rc, (long)result,
                tt_strerror(rc != 0 ? rc : result));
        return 1;
    }
    tt_live live;
    tt_live_get(&live);
    if (live.futures || live.tasks || live.jobs || live.loops || live.pools) {
        fprintf(stderr, "consumer: live objects after tt_run: futures %ld tasks %ld jobs %ld "
                "loops %ld pools %ld\n", live.futures, live.tasks, live.jobs, live.loops,
                live.pools);
        return 1;
    }
    printf("consumer: ok (tothread %d.%d.%d, %s)\n", TT_VERSION_MAJOR, TT_VERSION_MINOR,
           TT_VERSION_PATCH, strcmp(tt_strerror(-ECANCELED), "") ? "strerror ok" : "?");
    return 0;
}
