/* Names and sockets: getaddrinfo on the pool with its EAI_* codes mapped out of the -errno
 * range, TCP and Unix listeners, and connect with Happy Eyeballs (RFC 8305) — one task per
 * attempt, each next one started 250 ms after the previous unless that one failed sooner. */
#include "internal.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#define HE_DELAY TT_MS(250) /* RFC 8305's recommended Connection Attempt Delay */
#define HE_MAX_ADDRS 16     /* addresses tried at most, as getaddrinfo orders them */

/* ------------------------------------------------------------------- getaddrinfo */

typedef struct gai_call {
    const char *host, *service;
    const struct addrinfo *hints;
    struct addrinfo *res;
} gai_call;

static intptr_t gai_run(void *arg)
{
    gai_call *c = arg;
    int rc = getaddrinfo(c->host, c->service, c->hints, &c->res);
    if (rc == EAI_SYSTEM)
        return errno ? -errno : -EIO;
    if (rc == EAI_MEMORY)
        return -ENOMEM;
    return rc ? TT_EAI(rc) : 0;
}

int tt_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res)
{
    if (res)
        *res = NULL;
    if (!res || (!host && !service))
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    /* Default mode: a running lookup is waited for even when we are cancelled, so c may live
     * on this stack and whatever it found is ours to free. */
    gai_call c = {.host = host, .service = service, .hints = hints};
    tt_future *f = tt_to_thread(gai_run, &c);
    if (!f)
        return -errno;
    intptr_t r = tt_await(f);
    if (r != 0) {
        if (c.res)
            freeaddrinfo(c.res);
        return (int)r;
    }
    *res = c.res;
    return 0;
}

/* ------------------------------------------------------------------------ listen */

static int listen_on(const struct addrinfo *ai, int backlog, unsigned flags)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        ((flags & TT_LISTEN_REUSEPORT) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        (ai->ai_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

intptr_t tt_listen_tcp(const char *host, const char *port, int backlog, unsigned flags)
{
    if (!port || (flags & ~TT_LISTEN_REUSEPORT))
        return -EINVAL;
    if (backlog <= 0)
        backlog = SOMAXCONN;
    /* No AI_ADDRCONFIG: it would drop "::" on a host whose only IPv6 address is ::1, and
     * listen_on falls back to IPv4 by itself where IPv6 is missing. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    int rc = tt_getaddrinfo(host, port, &hints, &res);
    if (rc < 0)
        return rc;
    intptr_t r = -EADDRNOTAVAIL;
    /* No host: one dual-stack IPv6 socket covers both families; IPv4 only if that fails. */
    for (int pass = host ? 1 : 0; pass < 2 && r < 0; pass++)
        for (struct addrinfo *ai = res; ai && r < 0; ai = ai->ai_next)
            if (pass == 1 || ai->ai_family == AF_INET6)
                r = listen_on(ai, backlog, flags);
    freeaddrinfo(res);
    return r;
}

/* Fills a Unix address for path ('@' first: abstract). Its length, or -EINVAL/-ENAMETOOLONG. */
static int unix_addr(const char *path, struct sockaddr_un *sun)
{
    if (!path || !*path)
        return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof sun->sun_path)
        return -ENAMETOOLONG;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    if (path[0] == '@')
        sun->sun_path[0] = '\0';
    return (int)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
}

intptr_t tt_listen_unix(const char *path, int backlog)
{
    struct sockaddr_un sun;
    int len = unix_addr(path, &sun);
    if (len < 0)
        return len;
    if (backlog <= 0)
        backlog = SOMAXCONN;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sun, (socklen_t)len) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* ----------------------------------------------------------------------- connect */

intptr_t tt_connect_unix(const char *path)
{
    struct sockaddr_un sun;
    int len = unix_addr(path, &sun);
    if (len < 0)
        return len;
    if (!task_current())
        return -EPERM;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    intptr_t r = tt_connect(fd, (struct sockaddr *)&sun, (socklen_t)len);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

typedef struct he_attempt {
    const struct addrinfo *ai;
    int fd; /* the connected socket, until the winner is taken or the loser closed */
} he_attempt;

static intptr_t he_attempt_run(void *arg)
{
    he_attempt *a = arg;
    int fd = socket(a->ai->ai_family, a->ai->ai_socktype | SOCK_CLOEXEC, a->ai->ai_protocol);
    if (fd < 0)
        return -errno;
    intptr_t r = tt_connect(fd, a->ai->ai_addr, a->ai->ai_addrlen);
    if (r < 0) {
        close(fd);
        return r;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    a->fd = fd; /* kept in a: a cancel landing after the connect must not leak the socket */
    return 0;
}

/* RFC 8305 section 4: alternate the families, starting with the first one getaddrinfo gave. */
static size_t he_order(const struct addrinfo *res, he_attempt *out, size_t max)
{
    const struct addrinfo *v[2][HE_MAX_ADDRS];
    size_t nv[2] = {0, 0}, n = 0;
    int first = res ? res->ai_family : AF_INET6;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int k = ai->ai_family != first;
        if (nv[k] < HE_MAX_ADDRS)
            v[k][nv[k]++] = ai;
    }
    for (size_t i = 0; n < max && (i < nv[0] || i < nv[1]); i++)
        for (int k = 0; k < 2 && n < max; k++)
            if (i < nv[k])
                out[n++] = (he_attempt){.ai = v[k][i], .fd = -1};
    return n;
}

intptr_t tt_connect_tcp(const char *host, const char *port)
{
    if (!host || !port)
        return -EINVAL;
    if (!task_current())
        return -EPERM;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res;
    int rc = tt_getaddrinfo(host, port, &hints, &res);
    if (rc < 0)
        return rc;
    intptr_t r = net_connect_addrs(res);
    freeaddrinfo(res);
    return r;
}

intptr_t net_connect_addrs(const struct addrinfo *res)
{
    he_attempt att[HE_MAX_ADDRS];
    tt_future *futs[HE_MAX_ADDRS];      /* the attempts started, in order */
    tt_future *running[HE_MAX_ADDRS];   /* those not yet seen to end */
    size_t n = he_order(res, att, HE_MAX_ADDRS), started = 0, nrun = 0;
    intptr_t r = -EHOSTUNREACH, winner = -1;
    bool taken = false;
    while (winner < 0) {
        if (started < n && nrun < n) {
            futs[started] = tt_spawn(he_attempt_run, &att[started]);
            if (!futs[started]) {
                r = -errno;
                break;
            }
            running[nrun++] = futs[started++];
        }
        if (nrun == 0)
            break; /* every address failed: r is the last one's error */
        ssize_t k = tt_wait(running, nrun, TT_FIRST_COMPLETED,
                            started < n ? HE_DELAY : TT_FOREVER);
        if (k < 0) {
            r = k; /* cancelled */
            break;
        }
        for (size_t i = 0; i < nrun;) {
            if (!tt_done(running[i])) {
                i++;
                continue;
            }
            intptr_t ar = tt_result(running[i]);
            if (ar == 0) {
                for (size_t j = 0; j < started; j++)
                    if (futs[j] == running[i])
                        winner = (intptr_t)j;
                break;
            }
            r = ar;
            running[i] = running[--nrun];
        }
    }
    /* The losers: cancel them, wait until each has ended, close what they connected. */
    for (size_t j = 0; j < started; j++) {
        tt_cancel(futs[j], NULL);
        while (!tt_done(futs[j]))
            if (tt_await(tt_ref(futs[j])) == -ECANCELED && !tt_done(futs[j]))
                taken = true; /* our own cancellation, consumed here: report it */
        tt_unref(futs[j]);
        if ((intptr_t)j != winner && att[j].fd >= 0)
            close(att[j].fd);
    }
    if (taken) {
        if (winner >= 0)
            close(att[winner].fd);
        return -ECANCELED;
    }
    return winner >= 0 ? att[winner].fd : r;
}
