/* Names, listen/connect and the serve helper over loopback: getaddrinfo on the pool with EAI
 * codes outside the -errno range, TCP over IPv4 and IPv6 (dual-stack), Unix sockets (path and
 * abstract), every address tried, refusal, cancellation, and a server's graceful close. */
#define _GNU_SOURCE
#include "tkutil.h"
#include "internal.h" /* net_connect_addrs: Happy Eyeballs without a resolver */

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The listener's port as a string. */
static void port_of(int fd, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(out, n, "%d", port);
}

static int have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Connects to host:port, accepts on lfd, and checks that bytes pass both ways. */
static void round_trip(int lfd, const char *host, const char *port)
{
    intptr_t c = tt_connect_tcp(host, port);
    ck_assert_msg(c >= 0, "connect %s:%s: %s", host, port, tt_strerror(c));
    intptr_t a = tt_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(tt_write_all((int)c, "ping", 4, NULL), 4);
    char buf[4];
    ck_assert_int_eq(tt_read_exactly((int)a, buf, 4, NULL), 4);
    ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
    close((int)c);
    close((int)a);
}

TASK_TEST(getaddrinfo_results_and_eai_codes)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = (struct addrinfo *)1;
    ck_assert_int_eq(tt_getaddrinfo("127.0.0.1", "80", &hints, &res), 0);
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(res->ai_family, AF_INET);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
    freeaddrinfo(res);

    hints.ai_flags = AI_NUMERICHOST;
    ck_assert_int_eq(tt_getaddrinfo("not-a-number", "80", &hints, &res), TT_EAI(EAI_NONAME));
    ck_assert_ptr_null(res);
    hints.ai_flags = 0;
    ck_assert_int_eq(tt_getaddrinfo("127.0.0.1", "tt-no-such-service", &hints, &res),
                     TT_EAI(EAI_SERVICE));
    /* The codes sit far below every -errno and have their own text. */
    ck_assert(TT_IS_EAI(TT_EAI(EAI_NONAME)));
    ck_assert(TT_IS_EAI(TT_EAI(EAI_SERVICE)));
    ck_assert(TT_EAI(EAI_NONAME) < -4095);
    ck_assert(!TT_IS_EAI(-ECONNREFUSED));
    ck_assert(!TT_IS_EAI(TT_EAI_BASE));
    ck_assert_str_eq(tt_strerror(TT_EAI(EAI_NONAME)), gai_strerror(EAI_NONAME));
    ck_assert_str_eq(tt_strerror(TT_EAI(EAI_SERVICE)), gai_strerror(EAI_SERVICE));
    ck_assert_int_eq(tt_getaddrinfo(NULL, NULL, NULL, &res), -EINVAL);
    ck_assert_int_eq(tt_getaddrinfo("x", "1", NULL, NULL), -EINVAL);
    return 0;
}

TASK_TEST(tcp_ipv4_ipv6_and_dual_stack)
{
    char port[16];
    intptr_t l = tt_listen_tcp("127.0.0.1", "0", 16, 0);
    ck_assert_int_ge(l, 0);
    port_of((int)l, port, sizeof port);
    round_trip((int)l, "127.0.0.1", port);
    /* "localhost" may give ::1 first: refused there, then 127.0.0.1 connects. */
    round_trip((int)l, "localhost", port);
    close((int)l);

    if (have_ipv6()) {
        l = tt_listen_tcp("::1", "0", 0, 0);
        ck_assert_int_ge(l, 0);
        port_of((int)l, port, sizeof port);
        round_trip((int)l, "::1", port);
        close((int)l);
        /* No host: one socket for both families. */
        l = tt_listen_tcp(NULL, "0", 0, TT_LISTEN_REUSEPORT);
        ck_assert_int_ge(l, 0);
        port_of((int)l, port, sizeof port);
        round_trip((int)l, "127.0.0.1", port);
        round_trip((int)l, "::1", port);
        /* The same port again: -EADDRINUSE, unless both ask for SO_REUSEPORT. */
        ck_assert_int_eq(tt_listen_tcp(NULL, port, 0, 0), -EADDRINUSE);
        intptr_t l2 = tt_listen_tcp(NULL, port, 0, TT_LISTEN_REUSEPORT);
        ck_assert_int_ge(l2, 0);
        close((int)l2);
        close((int)l);
    }
    return 0;
}

TASK_TEST(connect_refused_and_unresolvable)
{
    char port[16];
    intptr_t l = tt_listen_tcp("127.0.0.1", "0", 0, 0);
    port_of((int)l, port, sizeof port);
    close((int)l); /* nobody listens there now */
    ck_assert_int_eq(tt_connect_tcp("127.0.0.1", port), -ECONNREFUSED);
    ck_assert_int_eq(tt_connect_tcp("127.0.0.1", "tt-no-such-service"), TT_EAI(EAI_SERVICE));
    ck_assert_int_eq(tt_listen_tcp("127.0.0.1", "tt-no-such-service", 0, 0), TT_EAI(EAI_SERVICE));
    ck_assert_int_eq(tt_connect_tcp(NULL, "1"), -EINVAL);
    ck_assert_int_eq(tt_connect_tcp("127.0.0.1", NULL), -EINVAL);
    ck_assert_int_eq(tt_listen_tcp("127.0.0.1", NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(tt_listen_tcp("127.0.0.1", "0", 0, 2), -EINVAL);
    return 0;
}

/* A listener on 127.0.0.1 whose accept queue is full: the kernel drops further SYNs, so a
 * connect to it hangs (until SYN retries run out). Fills *fill[3]; returns the listener. */
static int hanging_listener(struct sockaddr_in *a, int fill[3])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(l, (struct sockaddr *)a, sizeof *a), 0);
    ck_assert_int_eq(listen(l, 0), 0);
    socklen_t len = sizeof *a;
    getsockname(l, (struct sockaddr *)a, &len);
    for (int i = 0; i < 3; i++) { /* never accepted */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fill[i], (struct sockaddr *)a, sizeof *a);
    }
    return l;
}

/* Happy Eyeballs over two addresses (through the resolver-free seam of tt_connect_tcp): the
 * first hangs, the second is started 250 ms later and wins; the first is cancelled. */
TASK_TEST(connect_starts_the_next_address_after_250_ms)
{
    struct sockaddr_in hang, ok;
    int fill[3];
    int lh = hanging_listener(&hang, fill);
    char port[16];
    intptr_t lo = tt_listen_tcp("127.0.0.1", "0", 0, 0);
    port_of((int)lo, port, sizeof port);
    ok = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct addrinfo second = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                              .ai_addr = (struct sockaddr *)&ok, .ai_addrlen = sizeof ok};
    struct addrinfo first = second;
    first.ai_addr = (struct sockaddr *)&hang;
    first.ai_next = &second;
    tt_sleep(TT_MS(20)); /* the queue-filling handshakes are done */
    int64_t t0 = tt_now();
    intptr_t c = net_connect_addrs(&first);
    ck_assert_msg(c >= 0, "%s", tt_strerror(c));
    ck_assert_int_ge(tt_now() - t0, TT_MS(240));
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    ck_assert_int_eq(getpeername((int)c, (struct sockaddr *)&peer, &plen), 0);
    ck_assert_int_eq(peer.sin_port, ok.sin_port);
    close((int)c);
    /* Only the hanging address: a timeout scope ends it, nothing leaks. */
    first.ai_next = NULL;
    tt_timeout to;
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(50)), 0);
    ck_assert_int_eq(tt_timeout_exit(&to, net_connect_addrs(&first)), -ETIMEDOUT);
    /* A refused first address: the next one is tried at once and connects. */
    close(lh);
    for (int i = 0; i < 3; i++)
        close(fill[i]);
    first.ai_next = &second;
    c = net_connect_addrs(&first);
    ck_assert_int_ge(c, 0);
    close((int)c);
    /* Every address refused: the last one's error. */
    close((int)lo);
    ck_assert_int_eq(net_connect_addrs(&first), -ECONNREFUSED);
    return 0;
}

/* A socket call in a task of its own; the fd goes to out, so that a task ending cancelled
 * after the call succeeded (its cancel request undelivered) still hands the fd over. */
typedef struct sock_call {
    const char *port; /* NULL: listen, else connect to it */
    intptr_t fd;
} sock_call;

static intptr_t sock_call_run(void *arg)
{
    sock_call *c = arg;
    c->fd = c->port ? tt_connect_tcp("127.0.0.1", c->port) : tt_listen_tcp("127.0.0.1", "0", 0, 0);
    return c->fd < 0 ? c->fd : 0;
}

/* Cancelled before it starts, while the name is resolved on the pool, while it connects; and
 * by a timeout: -ECANCELED or a real fd, never a lost socket. */
TASK_TEST(connect_and_listen_cancelled_at_each_step)
{
    int fds_before = tk_open_fds();
    char port[16];
    intptr_t l = tt_listen_tcp("127.0.0.1", "0", 0, 0);
    port_of((int)l, port, sizeof port);
    for (int listen = 0; listen < 2; listen++)
        for (int yields = 0; yields < 5; yields++) {
            sock_call c = {.port = listen ? NULL : port, .fd = -1};
            tt_future *f = tt_spawn(sock_call_run, &c);
            for (int i = 0; i < yields; i++)
                tt_yield();
            tt_cancel(f, NULL);
            intptr_t r = tt_await(f);
            ck_assert_msg(r == 0 || r == -ECANCELED, "%s", tt_strerror(r));
            if (c.fd >= 0)
                close((int)c.fd);
            else /* -1: cancelled before it started, so it never ran */
                ck_assert_msg(c.fd == -ECANCELED || (c.fd == -1 && yields == 0), "%ld", (long)c.fd);
        }
    tt_timeout to;
    ck_assert_int_eq(tt_timeout_enter(&to, 0), 0);
    ck_assert_int_eq(tt_timeout_exit(&to, tt_connect_tcp("127.0.0.1", port)), -ETIMEDOUT);
    close((int)l);
    ck_assert_int_eq(tk_open_fds(), fds_before);
    return 0;
}

TASK_TEST(unix_path_and_abstract)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/tt-net-%d.sock", (int)getpid());
    unlink(path);
    intptr_t l = tt_listen_unix(path, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(tt_listen_unix(path, 0), -EADDRINUSE);
    intptr_t c = tt_connect_unix(path);
    ck_assert_int_ge(c, 0);
    intptr_t a = tt_accept((int)l, NULL, NULL, 0);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(tt_write_all((int)a, "hi", 2, NULL), 2);
    char buf[2];
    ck_assert_int_eq(tt_read_exactly((int)c, buf, 2, NULL), 2);
    close((int)a);
    close((int)c);
    close((int)l);
    unlink(path);
    ck_assert_int_eq(tt_connect_unix(path), -ENOENT);

    snprintf(path, sizeof path, "@tt-net-%d", (int)getpid());
    l = tt_listen_unix(path, 0);
    ck_assert_int_ge(l, 0);
    c = tt_connect_unix(path);
    ck_assert_int_ge(c, 0);
    close((int)c);
    close((int)l);
    ck_assert_int_eq(tt_connect_unix(path), -ECONNREFUSED);

    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    ck_assert_int_eq(tt_listen_unix(longp, 0), -ENAMETOOLONG);
    ck_assert_int_eq(tt_connect_unix(longp), -ENAMETOOLONG);
    ck_assert_int_eq(tt_listen_unix(NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_connect_unix(""), -EINVAL);
    return 0;
}

/* ------------------------------------------------------------------------ serving */

typedef struct served {
    int started, finished, cancelled;
    int64_t linger; /* a handler's pause before it answers "bye" after end of input */
} served;

/* Echoes each line upper-cased until end of file, then lingers and says "bye\n". */
static intptr_t upper_handler(int fd, void *arg)
{
    served *sv = arg;
    sv->started++;
    tt_stream *s = tt_stream_new(fd, 0);
    const char *line;
    intptr_t n;
    while ((n = tt_stream_readline(s, &line)) > 0) {
        char out[64];
        for (intptr_t i = 0; i < n && i < 64; i++)
            out[i] = (char)(line[i] >= 'a' && line[i] <= 'z' ? line[i] - 32 : line[i]);
        if (tt_stream_write_all(s, out, (size_t)n, NULL) < 0)
            break;
    }
    if (n == 0)
        n = tt_sleep(sv->linger);
    if (n == 0)
        n = tt_stream_write_all(s, "bye\n", 4, NULL);
    tt_stream_free(s);
    if (n == -ECANCELED)
        sv->cancelled++;
    else
        sv->finished++;
    return n < 0 ? n : 0;
}

static int client(const char *port)
{
    intptr_t c = tt_connect_tcp("127.0.0.1", port);
    ck_assert_int_ge(c, 0);
    return (int)c;
}

static void expect(int fd, const char *want)
{
    char buf[64] = {0};
    size_t n = strlen(want);
    ck_assert_int_eq(tt_read_exactly(fd, buf, n, NULL), (intptr_t)n);
    ck_assert_str_eq(buf, want);
}

TASK_TEST(serve_three_clients_then_close_gracefully)
{
    char port[16];
    intptr_t l = tt_listen_tcp("127.0.0.1", "0", 0, 0);
    port_of((int)l, port, sizeof port);
    served sv = {.linger = TT_MS(10)};
    tt_server *s = tt_server_start((int)l, upper_handler, &sv);
    ck_assert_ptr_nonnull(s);
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = client(port);
    for (int i = 0; i < 3; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "hello %d\n", i);
        ck_assert_int_eq(tt_write_all(c[i], msg, strlen(msg), NULL), (intptr_t)strlen(msg));
        snprintf(msg, sizeof msg, "HELLO %d\n", i);
        expect(c[i], msg);
    }
    ck_assert_uint_eq(tt_server_connections(s), 3);
    for (int i = 0; i < 3; i++)
        shutdown(c[i], SHUT_WR);
    /* Closing now: the handlers are lingering; the grace period lets them say bye. */
    ck_assert_int_eq(tt_server_close(s, TT_SEC(5)), 0);
    ck_assert_int_eq(sv.started, 3);
    ck_assert_int_eq(sv.finished, 3);
    ck_assert_int_eq(sv.cancelled, 0);
    for (int i = 0; i < 3; i++) {
        expect(c[i], "bye\n");
        char b;
        ck_assert_int_eq(tt_recv(c[i], &b, 1, 0), 0); /* the server closed its end */
        close(c[i]);
    }
    close((int)l);
    return 0;
}

/* Handlers that do not finish within the grace period are cancelled; the server closes their
 * connections and waits for them before it returns. */
TASK_TEST(serve_close_cancels_handlers_after_the_grace_period)
{
    char port[16];
    intptr_t l = tt_listen_tcp("127.0.0.1", "0", 0, 0);
    port_of((int)l, port, sizeof port);
    for (int grace_ms = 0; grace_ms <= 30; grace_ms += 30) {
        served sv = {0};
        tt_server *s = tt_server_start((int)l, upper_handler, &sv);
        int c[2] = {client(port), client(port)};
        ck_assert_int_eq(tt_write_all(c[0], "x\n", 2, NULL), 2);
        expect(c[0], "X\n");
        ck_assert_int_eq(tt_write_all(c[1], "y\n", 2, NULL), 2);
        expect(c[1], "Y\n");
        int64_t t0 = tt_now();
        ck_assert_int_eq(tt_server_close(s, TT_MS(grace_ms)), 0);
        ck_assert_int_ge(tt_now() - t0, TT_MS(grace_ms));
        ck_assert_int_eq(sv.started, 2);
        ck_assert_int_eq(sv.cancelled, 2);
        ck_assert_int_eq(sv.finished, 0);
        for (int i = 0; i < 2; i++) {
            char b;
            ck_assert_int_eq(tt_recv(c[i], &b, 1, 0), 0);
            close(c[i]);
        }
    }
    close((int)l);
    return 0;
}

/* A connection accepted but whose handler never got to run is still closed. */
TASK_TEST(serve_close_right_after_accept)
{
    char port[16];
    intptr_t l = tt_listen_tcp("127.0.0.1", "0", 0, 0);
    port_of((int)l, port, sizeof port);
    served sv = {0};
    tt_server *s = tt_server_start((int)l, upper_handler, &sv);
    /* A plain connect (no suspension), so that no handler can run before we look. */
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    while (tt_server_connections(s) == 0)
        tt_yield();
    ck_assert_int_eq(tt_server_close(s, 0), 0);
    ck_assert_int_eq(sv.started, 0);
    char b;
    ck_assert_int_eq(tt_recv(c, &b, 1, 0), 0);
    close(c);
    close((int)l);
    return 0;
}

static intptr_t closer_run(void *arg) { return tt_server_close(arg, TT_FOREVER); }

/* The closing task cancelled during the grace period: handlers cancelled at once; -ECANCELED. */
TASK_TEST(serve_close_cancelled_during_grace)
{
    char port[16];
    intptr_t l = tt_listen_tcp("127.0.0.1", "0", 0, 0);
    port_of((int)l, port, sizeof port);
    served sv = {0};
    tt_server *s = tt_server_start((int)l, upper_handler, &sv);
    int c = client(port);
    ck_assert_int_eq(tt_write_all(c, "q\n", 2, NULL), 2);
    expect(c, "Q\n");
    tt_future *closer = tt_spawn(closer_run, s);
    tt_sleep(TT_MS(10));
    ck_assert_int_eq(tt_done(closer), 0);
    tt_cancel(closer, NULL);
    ck_assert_int_eq(tt_await(closer), -ECANCELED);
    ck_assert_int_eq(sv.cancelled, 1);
    close(c);
    close((int)l);
    return 0;
}

typedef struct self_closer {
    tt_server *srv;
    intptr_t r;
} self_closer;

static intptr_t self_close_handler(int fd, void *arg)
{
    (void)fd;
    self_closer *sc = arg;
    sc->r = tt_server_close(sc->srv, 0);
    return 0;
}

/* A handler cannot close its own server (it would wait for itself): -EDEADLK, nothing freed. */
TASK_TEST(serve_close_from_a_handler_is_edeadlk)
{
    char port[16];
    intptr_t l = tt_listen_tcp("127.0.0.1", "0", 0, 0);
    port_of((int)l, port, sizeof port);
    self_closer sc = {.r = 1};
    sc.srv = tt_server_start((int)l, self_close_handler, &sc);
    int c = client(port);
    char b;
    ck_assert_int_eq(tt_recv(c, &b, 1, 0), 0); /* the handler returned: connection closed */
    ck_assert_int_eq(sc.r, -EDEADLK);
    ck_assert_int_eq(tt_server_close(sc.srv, 0), 0);
    close(c);
    close((int)l);
    return 0;
}

/* An accept error that is not transient stops the accept loop; close reports it. */
TASK_TEST(serve_on_a_socket_that_does_not_listen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    served sv = {0};
    tt_server *s = tt_server_start(fd, upper_handler, &sv);
    ck_assert_ptr_nonnull(s);
    tt_sleep(TT_MS(5));
    ck_assert_int_eq(tt_server_close(s, TT_SEC(1)), -EINVAL);
    close(fd);
    errno = 0;
    ck_assert_ptr_null(tt_server_start(-1, upper_handler, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(tt_server_start(0, NULL, NULL));
    ck_assert_int_eq(tt_server_close(NULL, 0), -EINVAL);
    ck_assert_uint_eq(tt_server_connections(NULL), 0);
    return 0;
}

START_TEST(outside_a_task_is_eperm)
{
    struct addrinfo *res;
    ck_assert_int_eq(tt_getaddrinfo("127.0.0.1", "1", NULL, &res), -EPERM);
    ck_assert_int_eq(tt_listen_tcp("127.0.0.1", "0", 0, 0), -EPERM);
    ck_assert_int_eq(tt_connect_tcp("127.0.0.1", "1"), -EPERM);
    ck_assert_int_eq(tt_connect_unix("/tmp/x"), -EPERM);
    errno = 0;
    ck_assert_ptr_null(tt_server_start(0, upper_handler, NULL));
    ck_assert_int_eq(errno, EPERM);
    tu_assert_no_leaks();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, getaddrinfo_results_and_eai_codes);
    tcase_add_test(tc, tcp_ipv4_ipv6_and_dual_stack);
    tcase_add_test(tc, connect_refused_and_unresolvable);
    tcase_add_test(tc, connect_starts_the_next_address_after_250_ms);
    tcase_add_test(tc, connect_and_listen_cancelled_at_each_step);
    tcase_add_test(tc, unix_path_and_abstract);
    tcase_add_test(tc, serve_three_clients_then_close_gracefully);
    tcase_add_test(tc, serve_close_cancels_handlers_after_the_grace_period);
    tcase_add_test(tc, serve_close_right_after_accept);
    tcase_add_test(tc, serve_close_cancelled_during_grace);
    tcase_add_test(tc, serve_close_from_a_handler_is_edeadlk);
    tcase_add_test(tc, serve_on_a_socket_that_does_not_listen);
    tcase_add_test(tc, outside_a_task_is_eperm);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
