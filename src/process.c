/* Subprocesses: posix_spawn with pipes, a pidfd for awaiting the exit (tt_poll on the pidfd,
 * then waitid with WNOHANG; where pidfds are missing — kernels before 5.3, Valgrind — a polling
 * waitid with a growing sleep), and a free that never leaves a zombie. Built on the public
 * tt_poll and tt_sleep only, so it runs on every backend. */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

struct tt_process {
    pid_t pid;
    int pidfd;       /* -1: no pidfds here, wait by polling */
    int fds[3];      /* the parent's ends of the child's 0, 1, 2; -1 if none */
    bool reaped;
    intptr_t status; /* once reaped: exit code, or TT_EXIT_SIGNALED + signal */
};

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

/* The pipes for the streams asked for: pipes[i] = {parent end, child end}. 0 or -errno. */
static int make_pipes(unsigned flags, int pipes[3][2])
{
    for (int i = 0; i < 3; i++)
        pipes[i][0] = pipes[i][1] = -1; /* all of them first: the caller closes every one */
    for (int i = 0; i < 3; i++) {
        if (!(flags & (1u << i)))
            continue;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return -errno;
        /* Child's stdin reads p[0]; its stdout/stderr write p[1]. */
        pipes[i][0] = i == 0 ? p[1] : p[0];
        pipes[i][1] = i == 0 ? p[0] : p[1];
    }
    return 0;
}

static int spawn_child(char *const argv[], char *const envp[], int pipes[3][2], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return -rc;
    rc = posix_spawnattr_init(&at);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        return -rc;
    }
    /* dup2 clears close-on-exec on the child's copy; the originals close at exec. */
    for (int i = 0; i < 3 && !rc; i++)
        if (pipes[i][1] >= 0)
            rc = posix_spawn_file_actions_adddup2(&fa, pipes[i][1], i);
    /* The child must not inherit the loop thread's blocked signals (tt_signal_wait). */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if (!rc)
        rc = posix_spawnattr_setsigmask(&at, &none);
    if (!rc)
        rc = posix_spawnattr_setsigdefault(&at, &all);
    if (!rc)
        rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!rc)
        rc = posix_spawnp(pid, argv[0], &fa, &at, argv, envp ? envp : environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return -rc;
}

tt_process *tt_process_spawn(char *const argv[], char *const envp[], unsigned flags)
{
    if (!argv || !argv[0] || (flags & ~(TT_PIPE_STDIN | TT_PIPE_STDOUT | TT_PIPE_STDERR))) {
        errno = EINVAL;
        return NULL;
    }
    tt_process *p = calloc(1, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    int pipes[3][2];
    int rc = make_pipes(flags, pipes);
    pid_t pid = 0;
    if (rc == 0)
        rc = spawn_child(argv, envp, pipes, &pid);
    for (int i = 0; i < 3; i++)
        close_fds(&pipes[i][1], 1); /* the child's ends are the child's now */
    if (rc == 0) {
        /* Not reaped yet, so the pid cannot have been recycled: the pidfd is the child's. */
        p->pidfd = pidfd_open_(pid);
        if (p->pidfd < 0 && errno != ENOSYS) {
            rc = -errno;
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
    }
    if (rc < 0) {
        for (int i = 0; i < 3; i++)
            close_fds(&pipes[i][0], 1);
        free(p);
        errno = -rc;
        return NULL;
    }
    p->pid = pid;
    for (int i = 0; i < 3; i++)
        p->fds[i] = pipes[i][0];
    return p;
}

int tt_process_pid(const tt_process *p) { return p ? (int)p->pid : -EINVAL; }

int tt_process_fd(const tt_process *p, int child_fd)
{
    if (!p || child_fd < 0 || child_fd > 2)
        return -EINVAL;
    return p->fds[child_fd] >= 0 ? p->fds[child_fd] : -EBADF;
}

int tt_process_close_fd(tt_process *p, int child_fd)
{
    if (!p || child_fd < 0 || child_fd > 2)
        return -EINVAL;
    if (p->fds[child_fd] < 0)
        return -EBADF;
    close_fds(&p->fds[child_fd], 1);
    return 0;
}

int tt_process_kill(tt_process *p, int sig)
{
    if (!p || sig < 0 || sig >= NSIG)
        return -EINVAL;
    if (p->reaped)
        return -ESRCH;
    if (kill(p->pid, sig) < 0) /* only we reap it: until then the pid is the child's */
        return -errno;
    return 0;
}

/* Reaps the child if it has exited: 1 if reaped (status stored), 0 if it still runs, -errno. */
static int try_reap(tt_process *p, int options)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc = p->pidfd >= 0 ? waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | options)
                           : waitid(P_PID, (id_t)p->pid, &si, WEXITED | options);
    if (rc < 0)
        return -errno;
    if (si.si_pid == 0)
        return 0;
    p->reaped = true;
    p->status = si.si_code == CLD_EXITED ? (intptr_t)si.si_status
                                         : (intptr_t)TT_EXIT_SIGNALED + si.si_status;
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    return 1;
}

intptr_t tt_process_wait(tt_process *p)
{
    if (!p)
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    int64_t pause = TT_MS(1);
    while (!p->reaped) {
        /* The pidfd turns readable when the child exits; nothing is consumed before that, so
         * a cancelled wait leaves the child to a later wait or to tt_process_free. */
        intptr_t r;
        if (p->pidfd >= 0) {
            r = tt_poll(p->pidfd, POLLIN);
        } else {
            r = tt_sleep(pause);
            pause = pause < TT_MS(50) ? pause * 2 : pause;
        }
        if (r < 0)
            return r;
        int rc = try_reap(p, WNOHANG);
        if (rc < 0)
            return rc;
    }
    return p->status;
}

void tt_process_free(tt_process *p)
{
    if (!p)
        return;
    close_fds(p->fds, 3);
    if (!p->reaped) {
        if (try_reap(p, WNOHANG) == 0) {
            kill(p->pid, SIGKILL);
            while (try_reap(p, 0) == -EINTR)
                ;
        }
        if (p->pidfd >= 0)
            close(p->pidfd);
    }
    free(p);
}
