/* The process's monitor thread, run only while some detector needs it: it calls each registered
 * entry's check (a pool's stuck-call detector and pending interrupts in pool_watch.c, a loop's
 * watchdog in loop.c) when it is due, and stops when the last entry leaves. Also the symbol
 * lookup the reports share. */
#include "internal.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>

static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cv;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static watch_entry *entries;
static pthread_t watch_thread;
static bool watch_running;
static uintptr_t watch_gen; /* a monitor thread runs while the generation it started with holds */

static void watch_init(void) { cond_init_monotonic(&watch_cv); }

static void *watch_main(void *arg)
{
    uintptr_t gen = (uintptr_t)arg;
    pthread_mutex_lock(&watch_mu);
    while (gen == watch_gen) {
        int64_t now = clock_now(), next = INT64_MAX;
        for (watch_entry *e = entries; e; e = e->next) {
            if (e->due <= now) {
                e->period = e->check(e, now);
                e->due = e->period > 0 ? now + e->period : INT64_MAX;
            }
            if (e->due < next)
                next = e->due;
        }
        if (next == INT64_MAX) {
            pthread_cond_wait(&watch_cv, &watch_mu);
        } else {
            struct timespec ts;
            int64_t sec;
            timespec_from_ns(next, &sec, &ts.tv_nsec);
            ts.tv_sec = (time_t)sec;
            pthread_cond_timedwait(&watch_cv, &watch_mu, &ts);
        }
    }
    pthread_mutex_unlock(&watch_mu);
    return NULL;
}

static void schedule(watch_entry *e, int64_t period)
{
    if (period < TT_MS(1))
        period = TT_MS(1);
    int64_t due = clock_now() + period;
    if (due < e->due || !e->added)
        e->due = due;
}

int watch_add(watch_entry *e, int64_t period)
{
    pthread_once(&watch_once, watch_init);
    pthread_mutex_lock(&watch_mu);
    schedule(e, period);
    if (!e->added) {
        e->added = true;
        e->next = entries;
        entries = e;
    }
    int rc = 0;
    if (!watch_running) {
        /* The application's signals go to its own threads, never to the monitor. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = -pthread_create(&watch_thread, NULL, watch_main, (void *)++watch_gen);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc == 0) {
            watch_running = true;
            pthread_setname_np(watch_thread, "tt-monitor");
        } else {
            entries = e->next; /* e was pushed last, just above */
            e->added = false;
            rc = rc == -EAGAIN ? -EAGAIN : -ENOMEM;
        }
    }
    pthread_cond_signal(&watch_cv);
    pthread_mutex_unlock(&watch_mu);
    return rc;
}

void watch_poke(watch_entry *e, int64_t period)
{
    pthread_mutex_lock(&watch_mu);
    if (e->added) {
        schedule(e, period);
        pthread_cond_signal(&watch_cv);
    }
    pthread_mutex_unlock(&watch_mu);
}

void watch_remove(watch_entry *e)
{
    pthread_mutex_lock(&watch_mu);
    if (!e->added) {
        pthread_mutex_unlock(&watch_mu);
        return;
    }
    for (watch_entry **pp = &entries; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    e->added = false;
    bool stop = !entries && watch_running;
    pthread_t th = watch_thread;
    if (stop) {
        watch_gen++; /* the running monitor leaves; a later add starts a new one */
        watch_running = false;
        pthread_cond_broadcast(&watch_cv);
    }
    pthread_mutex_unlock(&watch_mu);
    if (stop)
        pthread_join(th, NULL);
}

void watch_symbol(const void *fn, char *buf, size_t n)
{
    Dl_info info;
    if (fn && dladdr(fn, &info) && info.dli_sname) {
        uintptr_t off = (uintptr_t)fn - (uintptr_t)info.dli_saddr;
        if (off)
            snprintf(buf, n, "%s+0x%lx", info.dli_sname, (unsigned long)off);
        else
            snprintf(buf, n, "%s", info.dli_sname);
    } else {
        snprintf(buf, n, "%p", fn);
    }
}

bool debug_env(void)
{
    const char *d = getenv("TT_DEBUG");
    return d && *d && strcmp(d, "0") != 0;
}
