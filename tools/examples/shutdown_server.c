/* A graceful-shutdown server skeleton: an echo server on 127.0.0.1 whose connections run as
 * tasks in a task group; SIGINT or SIGTERM (read from a signalfd with tt_read) stops accepting,
 * gives open connections 2 s to finish, then cancels what is left.
 *
 *   example-shutdown-server [--port N] [--stop-after SECONDS]
 *
 * --stop-after runs a demo client (one echo round trip) and sends the server SIGTERM after that
 * many seconds: how CI runs it. Without it, the server runs until a signal. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <tothread.h>

static int listen_fd = -1;
static unsigned short port;

/* One connection: echo until the peer closes; a cancel ends it at its current read or write. */
static intptr_t serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    intptr_t n;
    while ((n = tt_recv(fd, buf, sizeof buf, 0)) > 0)
        if ((n = tt_send(fd, buf, (size_t)n, MSG_NOSIGNAL)) < 0)
            break;
    close(fd);
    return n < 0 ? n : 0;
}

/* Accepts until cancelled, then drains the connections with a grace period. */
static intptr_t acceptor(void *arg)
{
    (void)arg;
    tt_group *conns = tt_group_new();
    if (conns == NULL)
        return -errno;
    intptr_t fd;
    while ((fd = tt_accept(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        tt_future *t = tt_group_spawn(conns, serve_conn, (void *)fd);
        if (t == NULL)
            close((int)fd);
        tt_unref(t); /* the group keeps what it needs */
    }
    if (fd == -ECANCELED)
        tt_uncancel(tt_current_task()); /* the shutdown request: handled here */
    fprintf(stderr, "server: draining connections (2 s grace)\n");
    tt_timeout grace;
    tt_timeout_enter(&grace, TT_SEC(2));
    intptr_t rc = tt_timeout_exit(&grace, tt_group_join(conns));
    if (rc == -ETIMEDOUT)
        fprintf(stderr, "server: connections cancelled after the grace period\n");
    tt_group_free(conns);
    return fd == -ECANCELED ? 0 : fd;
}

/* The demo client of --stop-after: one echo round trip, then SIGTERM to ourselves. */
static intptr_t demo_client(void *arg)
{
    int64_t stop_after = (int64_t)(intptr_t)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[16] = {0};
    intptr_t rc = tt_connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc == 0 && (rc = tt_send(fd, "hello", 5, MSG_NOSIGNAL)) == 5)
        rc = tt_recv(fd, buf, sizeof buf - 1, 0);
    printf("client: sent hello, got %s (%ld)\n", buf, (long)rc);
    close(fd);
    tt_sleep(TT_SEC(stop_after));
    kill(getpid(), SIGTERM);
    return rc == 5 && strcmp(buf, "hello") == 0 ? 0 : -EPROTO;
}

static intptr_t main_task(void *arg)
{
    int64_t stop_after = (int64_t)(intptr_t)arg;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0)
        return -errno;
    tt_future *acc = tt_spawn(acceptor, NULL);
    tt_future *client = stop_after > 0 ? tt_spawn(demo_client, (void *)(intptr_t)stop_after) : NULL;
    struct signalfd_siginfo si;
    intptr_t rc = tt_read(sfd, &si, sizeof si, -1); /* the task sleeps here until a signal */
    if (rc == sizeof si)
        fprintf(stderr, "server: %s, shutting down\n", strsignal((int)si.ssi_signo));
    tt_cancel(acc, "shutdown");
    intptr_t acc_rc = tt_await(acc);
    intptr_t client_rc = client != NULL ? tt_await(client) : 0;
    close(sfd);
    return acc_rc < 0 ? acc_rc : client_rc;
}

int main(int argc, char **argv)
{
    long stop_after = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = (unsigned short)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--stop-after") == 0)
            stop_after = atol(argv[i + 1]);
    }
    /* Block the signals before any thread starts, so only the signalfd sees them. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int one = 1;
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(listen_fd, 128) < 0 ||
        getsockname(listen_fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("server: listen");
        return 1;
    }
    port = ntohs(sa.sin_port);
    fprintf(stderr, "server: echo on 127.0.0.1:%u; SIGINT or SIGTERM stops it\n", port);
    intptr_t result = 0;
    int rc = tt_run(main_task, (void *)(intptr_t)stop_after, &result);
    close(listen_fd);
    if (rc < 0 || result < 0) {
        fprintf(stderr, "server: %s\n", tt_strerror(rc < 0 ? rc : result));
        return 1;
    }
    fprintf(stderr, "server: stopped cleanly\n");
    return 0;
}
