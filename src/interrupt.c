/* Interrupt on cancel (TT_JOB_INTERRUPT_ON_CANCEL): the one real-time signal whose empty handler,
 * installed without SA_RESTART, makes a worker's blocking system call return EINTR. Chosen and
 * installed once per process, never over a handler the application installed; pool_watch.c
 * sends it, pool.c unblocks it around the jobs that asked for it. */
#include "internal.h"

#include <signal.h>

static pthread_mutex_t intr_mu = PTHREAD_MUTEX_INITIALIZER;
static int intr_chosen;          /* tt_interrupt_signal's choice; 0: the default */
static _Atomic int intr_installed; /* the signal once its handler is in place */

static void on_interrupt(int sig) { (void)sig; } /* its only effect: the call returns EINTR */

static int default_signal(void)
{
    const char *env = getenv("TT_INTERRUPT_SIGNAL");
    long v = env ? strtol(env, NULL, 10) : 0;
    if (v >= SIGRTMIN && v <= SIGRTMAX)
        return (int)v;
    return SIGRTMIN + 2; /* glibc keeps SIGRTMIN and SIGRTMIN + 1 for itself (they are above) */
}

int tt_interrupt_signal(int sig)
{
    pthread_mutex_lock(&intr_mu);
    int installed = atomic_load(&intr_installed);
    int rc;
    if (sig == 0)
        rc = installed ? installed : intr_chosen ? intr_chosen : default_signal();
    else if (sig < SIGRTMIN || sig > SIGRTMAX)
        rc = -EINVAL;
    else if (installed && installed != sig)
        rc = -EBUSY;
    else
        rc = intr_chosen = sig;
    pthread_mutex_unlock(&intr_mu);
    return rc;
}

int interrupt_setup(void)
{
    if (TT_LIKELY(atomic_load_explicit(&intr_installed, memory_order_acquire)))
        return 0;
    pthread_mutex_lock(&intr_mu);
    int rc = 0;
    if (!atomic_load(&intr_installed)) {
        int sig = intr_chosen ? intr_chosen : default_signal();
        struct sigaction old, sa;
        sigaction(sig, NULL, &old);
        if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
            rc = -EBUSY; /* the application's: never replaced */
        } else {
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_interrupt;
            sigfillset(&sa.sa_mask);
            sa.sa_flags = 0; /* no SA_RESTART: the interrupted call returns EINTR */
            rc = sigaction(sig, &sa, NULL) ? -errno : 0;
            if (!rc)
                atomic_store_explicit(&intr_installed, sig, memory_order_release);
        }
    }
    pthread_mutex_unlock(&intr_mu);
    return rc;
}

int interrupt_signo(void) { return atomic_load_explicit(&intr_installed, memory_order_relaxed); }

void interrupt_unblock(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, interrupt_signo());
    /* A re-send that landed after the previous job returned stays pending while blocked: take
     * it, or this job would be interrupted for the last one's cancel. (One sent for this job
     * before it got here is taken too: the re-sends every 5 ms cover it.) */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, NULL, &zero) > 0)
        ;
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

void interrupt_block(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, interrupt_signo());
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}
