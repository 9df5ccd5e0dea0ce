/* Signals received by waiting: the set is blocked, a signalfd made for the wait is polled with
 * tt_poll (any backend) and read without blocking. Nothing is consumed before the poll says a
 * signal is pending, so a cancelled wait takes no signal. */
#include "internal.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

int tt_signal_block(const sigset_t *set)
{
    if (!set)
        return -EINVAL;
    return -pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* SIGKILL and SIGSTOP cannot be waited for: a set holding only those is empty in practice. */
static bool set_waitable(const sigset_t *set)
{
    sigset_t s = *set;
    sigdelset(&s, SIGKILL);
    sigdelset(&s, SIGSTOP);
    return !sigisemptyset(&s);
}

int tt_signal_wait(const sigset_t *set)
{
    if (!set || !set_waitable(set))
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    int rc = pthread_sigmask(SIG_BLOCK, set, NULL);
    if (rc)
        return -rc;
    int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    intptr_t r;
    for (;;) {
        r = tt_poll(fd, POLLIN);
        if (r < 0)
            break;
        struct signalfd_siginfo si;
        ssize_t n = read(fd, &si, sizeof si);
        if (n == (ssize_t)sizeof si) {
            r = (intptr_t)si.ssi_signo;
            break;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) { /* another thread took it: wait on */
            r = -errno;
            break;
        }
    }
    close(fd);
    return (int)r;
}
