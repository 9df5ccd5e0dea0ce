/* tt-stress io scenario: tasks doing IO on the ring, cancelled and timed out at random.
 *
 * Each io worker owns one byte stream (a pipe, a unix socketpair or a loopback TCP connection
 * made with tt_connect/tt_accept) and one "idle" descriptor nobody ever writes to. An episode
 * is one of:
 *   - a transfer: a writer task and a reader task move the next 1..64 KiB of the stream; the
 *     worker cancels either (or both) at random moments and starts a successor that carries
 *     on from the recorded offset; reads and writes are also wrapped in timeout scopes and
 *     in tt_wait_for around a one-call sub-task;
 *   - a blocked call (recv, read or poll) on the idle descriptor, cancelled after a random
 *     delay: it must end -ECANCELED;
 *   - the same under a timeout scope or tt_wait_for: it must end -ETIMEDOUT, not early.
 * The stream's content is a function of the byte offset (8-byte sequence-numbered messages),
 * so the reader checks every byte it gets: a loss, a duplicate or a reordering shows up as a
 * wrong message number, and closing the stream checks EOF comes exactly after what the writer
 * was told it wrote. Every call is an operation of ops.c (ended exactly once); a call that
 * returned data while its task had a cancel pending obliges the next suspension point to
 * deliver -ECANCELED. */
#define _GNU_SOURCE
#include "stress.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { K_PIPE = IO_KIND_PIPE, K_UNIX = IO_KIND_UNIX, K_TCP = IO_KIND_TCP, K_COUNT = IO_KIND_COUNT_ };
#define kind_names stress_io_kind_names

#define CHUNK_MAX 8192        /* bytes per read or write call, at most */
#define EPISODE_MAX 65536     /* bytes per transfer episode, at most */
#define SMALL_BUF 4096        /* pipe and socketpair buffers kept small so writers block often */
#define STUCK_NS TT_SEC(20)   /* a task of an episode that takes longer is reported as stuck */
#define MSG_MUL 0x9E3779B97F4A7C15ULL /* odd: word = k * MSG_MUL + key is a bijection of k */

typedef struct io_stream {
    int kind, rfd, wfd;
    unsigned serial;
    uint64_t key;
    uint64_t sent;   /* bytes the writer's calls reported written */
    uint64_t recvd;  /* bytes the reader's calls returned, every one checked */
    uint64_t target; /* the current episode moves the stream up to this offset */
    int wclosed, eof;
} io_stream;

/* The worker draws its episodes from its own stream (rng); each reader or writer task it
 * starts gets a stream split off for it (next_reader, next_writer, taken as the task starts),
 * so a task's choices do not depend on how the loop interleaves it with its partner. */
typedef struct io_worker {
    loop_ctx *ctx;
    double cancel_rate;
    stress_rng *rng;
    stress_rng next_reader, next_writer;
    io_stream s;
    int idle_kind, idle_fd, idle_peer; /* idle_peer stays open so idle_fd never sees EOF */
} io_worker;

/* What one task knows about its own cancellation across its calls, and its random stream. */
typedef struct io_side {
    io_worker *w;
    const char *role;
    int owe_cancel; /* a call returned data with a cancel pending: the next one must be -ECANCELED */
    const char *owe_call; /* that call, for the report */
    stress_rng rng;
} io_side;

/* ------------------------------------------------------------------ helpers */

static int64_t rand_delay(loop_ctx *ctx, stress_rng *rng)
{
    /* 0 one time in eight (the deadline is already due), else uniform over [0, 2*mean]. */
    int64_t mean = ctx->sh->cfg->mean_ns > 0 ? ctx->sh->cfg->mean_ns : 1000;
    if (stress_rand(rng) % 8 == 0)
        return 0;
    return (int64_t)(stress_rand01(rng) * 2.0 * (double)mean);
}

static size_t rand_len(stress_rng *rng, uint64_t left)
{
    size_t n = 1 + (size_t)(stress_rand(rng) % CHUNK_MAX);
    return left < n ? (size_t)left : n;
}

static uint8_t stream_byte(const io_stream *s, uint64_t off)
{
    uint64_t word = (off / 8) * MSG_MUL + s->key;
    return (uint8_t)(word >> (8 * (off % 8)));
}

/* The message number a word of received data encodes (for the report), by inverting k*MUL. */
static uint64_t message_of(const io_stream *s, const uint8_t *p)
{
    uint64_t word = 0, inv = MSG_MUL;
    for (int i = 0; i < 8; i++)
        word |= (uint64_t)p[i] << (8 * i);
    for (int i = 0; i < 5; i++) /* Newton: inv = MUL^-1 mod 2^64 */
        inv *= 2 - MSG_MUL * inv;
    return (word - s->key) * inv;
}

static void stream_fill(const io_stream *s, uint64_t off, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = stream_byte(s, off + i);
}

/* Checks n received bytes against the stream at the reader's offset. */
static void stream_verify(io_worker *w, const uint8_t *buf, size_t n)
{
    io_stream *s = &w->s;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = s->recvd + i;
        if (buf[i] == stream_byte(s, off))
            continue;
        /* Name the message the wrong bytes belong to when a whole word of them is at hand:
         * lower than expected is a duplicate, higher a loss. */
        char got[64] = "";
        size_t start = i - (size_t)(off % 8);
        if (off % 8 <= i && start + 8 <= n)
            snprintf(got, sizeof got, ", got message %llu",
                     (unsigned long long)message_of(s, buf + start));
        stress_stream_bad(w->ctx, "%s stream %u: byte %llu is 0x%02x, expected 0x%02x "
                                  "(message %llu%s; writer at %llu)",
                          kind_names[s->kind], s->serial, (unsigned long long)off, buf[i],
                          stream_byte(s, off), (unsigned long long)(off / 8), got,
                          (unsigned long long)s->sent);
        return;
    }
}

static stress_outcome outcome_of(intptr_t r)
{
    return r >= 0 ? OUT_IO_OK
           : r == -ECANCELED ? OUT_IO_CANCELLED
           : r == -ETIMEDOUT ? OUT_IO_TIMED_OUT : OUT_ERROR;
}

/* Bookkeeping around one IO call: an operation that must end exactly once. Inside a timeout
 * scope the caller ends it with the scope's verdict (held != NULL), so timeouts count as such. */
typedef struct io_op {
    uint64_t id;
    int64_t t0;
    int kind; /* the stream kind the call was on: io-ok latency is also kept per kind */
} io_op;

static void op_finish(loop_ctx *ctx, io_op o, intptr_t r)
{
    stress_outcome k = outcome_of(r);
    int64_t lat = tt_now() - o.t0;
    stress_op_end(ctx, o.id, k, lat);
    if (k == OUT_IO_OK && o.id != UINT64_MAX)
        hist_record(&ctx->rep->io_kind[o.kind], lat > 0 ? (uint64_t)lat : 0);
}

#define IO_OP(ctx_, held_, kind_, r_, call_)                                                   \
    do {                                                                                       \
        io_op op_ = {stress_op_begin(ctx_), tt_now(), (kind_)};                                \
        (r_) = (call_);                                                                        \
        if (held_)                                                                             \
            *(io_op *)(held_) = op_;                                                           \
        else                                                                                   \
            op_finish((ctx_), op_, (r_));                                                      \
    } while (0)

static int cancel_requested(void)
{
    return tt_cancelling(tt_current_task()) > 0;
}

/* Our tasks stop at the first -ECANCELED and never uncancel (timeout scopes take their own
 * back at exit), so a request counted on the task is one not yet delivered. */
static int cancel_pending(void)
{
    return tt_cancelling(tt_current_task()) > 0;
}

/* The rules for what a stream task's call may return. Returns 1 to go on, 0 to stop. */
static int side_check(io_side *sd, intptr_t r, const char *call)
{
    loop_ctx *ctx = sd->w->ctx;
    io_stream *s = &sd->w->s;
    if (r >= 0) {
        if (sd->owe_cancel) {
            const char *m = tt_cancel_message(tt_current_task());
            stress_semantic(ctx, "%s stream %u: %s %s returned %ld after its %s returned data with "
                                 "a cancel pending (\"%s\", %d request(s)): the cancel was not "
                                 "delivered at the next suspension point",
                            kind_names[s->kind], s->serial, sd->role, call, (long)r, sd->owe_call,
                            m ? m : "no message", tt_cancelling(tt_current_task()));
            return 0;
        }
        if (cancel_pending()) {
            sd->owe_cancel = 1;
            sd->owe_call = call;
            ctx->rep->io_raced++;
        }
        return 1;
    }
    if (r == -ECANCELED) {
        if (!cancel_requested())
            stress_semantic(ctx, "%s stream %u: %s %s returned -ECANCELED that nobody asked for",
                            kind_names[s->kind], s->serial, sd->role, call);
        return 0;
    }
    stress_semantic(ctx, "%s stream %u: %s %s: unexpected %ld (%s)", kind_names[s->kind],
                    s->serial, sd->role, call, (long)r, tt_strerror(r));
    return 0;
}

/* The scope was entered with someone else's cancel pending (the previous call returned data
 * as it came), the deadline fired too, and the exit reported -ETIMEDOUT: the outside cancel
 * was delivered inside the scope and taken for the scope's own, so the task would run on as
 * if never cancelled. Named apart from the generic check; the task stops as cancelled. */
static intptr_t scope_ate_cancel(io_side *sd, const char *call)
{
    io_stream *s = &sd->w->s;
    stress_semantic(sd->w->ctx, "%s stream %u: %s %s: tt_timeout_exit answered -ETIMEDOUT for a "
                                "cancel that was pending before the scope was entered; that "
                                "cancel is lost",
                    kind_names[s->kind], s->serial, sd->role, call);
    return -ECANCELED;
}

static void check_deadline(loop_ctx *ctx, int64_t deadline, const char *what)
{
    int64_t now = tt_now();
    if (now < deadline)
        stress_semantic(ctx, "io: %s timed out %lld ns before its deadline", what,
                        (long long)(deadline - now));
}

static tt_future *spawn_named(loop_ctx *ctx, const char *name, tt_fn fn, void *arg)
{
    tt_task_opts o = {name, 0};
    tt_future *f = tt_spawn_on(NULL, &o, fn, arg);
    if (!f)
        stress_semantic(ctx, "io: tt_spawn (%s) failed: %s", name, tt_strerror(-errno));
    return f;
}

/* Awaits an episode's task, but reports it (with a dump of the loop) instead of hanging
 * silently when it does not end in STUCK_NS: a call the kernel or the cancel never finished. */
static intptr_t await_bounded(io_worker *w, tt_future *f, const char *what)
{
    tt_future *fs[1] = {f};
    ssize_t n = tt_wait(fs, 1, TT_ALL_COMPLETED, STUCK_NS);
    if (n == 0) {
        io_stream *s = &w->s;
        stress_semantic(w->ctx, "io: %s (%s stream %u, sent %llu, received %llu) did not end in "
                                "%lld s", what, kind_names[s->kind], s->serial,
                        (unsigned long long)s->sent, (unsigned long long)s->recvd,
                        (long long)(STUCK_NS / TT_SEC(1)));
        /* Always on stderr, past the cap on repeated messages: this is the one to debug. */
        fprintf(stderr, "\ntt-stress: io: stuck: %s (%s stream %u), task '%s'; the loop:\n", what,
                kind_names[s->kind], s->serial, tt_task_name(f));
        tt_loop_dump(w->ctx->loop, stderr);
        tt_cancel(f, "tt-stress: stuck");
    }
    return tt_await(f);
}

/* ------------------------------------------------------------------ stream calls */

static intptr_t stream_read(io_side *sd, uint8_t *buf, size_t want, io_op *held)
{
    io_worker *w = sd->w;
    io_stream *s = &w->s;
    intptr_t r;
    if (s->kind != K_PIPE && stress_coin(&sd->rng, 0.5))
        IO_OP(w->ctx, held, s->kind, r, tt_recv(s->rfd, buf, want, 0));
    else
        IO_OP(w->ctx, held, s->kind, r, tt_read(s->rfd, buf, want, -1));
    if (r > 0) {
        stream_verify(w, buf, (size_t)r);
        s->recvd += (uint64_t)r;
        w->ctx->rep->io_bytes += (uint64_t)r;
    } else if (r == 0) {
        if (s->wclosed)
            s->eof = 1;
        else
            stress_stream_bad(w->ctx, "%s stream %u: EOF at byte %llu before the writer closed",
                              kind_names[s->kind], s->serial, (unsigned long long)s->recvd);
    }
    return r;
}

static intptr_t stream_write(io_side *sd, const uint8_t *buf, size_t n, io_op *held)
{
    io_worker *w = sd->w;
    io_stream *s = &w->s;
    intptr_t r;
    if (s->kind != K_PIPE && stress_coin(&sd->rng, 0.5))
        IO_OP(w->ctx, held, s->kind, r, tt_send(s->wfd, buf, n, MSG_NOSIGNAL));
    else
        IO_OP(w->ctx, held, s->kind, r, tt_write(s->wfd, buf, n, -1));
    if (r > 0)
        s->sent += (uint64_t)r;
    else if (r == 0)
        stress_semantic(w->ctx, "%s stream %u: a write of %zu bytes returned 0", kind_names[s->kind],
                        s->serial, n);
    return r;
}

/* One stream call inside a timeout scope with a random deadline. SCOPE_DONE: *r is the
 * outcome; SCOPE_RETRY: it timed out (checked not early), nothing moved; SCOPE_ATE: the scope
 * answered -ETIMEDOUT for a cancel owed from before; SCOPE_FAILED: the scope could not start. */
enum { SCOPE_DONE = 0, SCOPE_RETRY = 1, SCOPE_ATE = -1, SCOPE_FAILED = -2 };

static int in_scope(io_side *sd, bool write, uint8_t *buf, size_t n, intptr_t *r)
{
    loop_ctx *ctx = sd->w->ctx;
    tt_timeout t;
    if (tt_timeout_enter(&t, rand_delay(ctx, &sd->rng)) < 0) {
        stress_semantic(ctx, "io: tt_timeout_enter failed");
        return SCOPE_FAILED;
    }
    int64_t deadline = TT_FOREVER;
    (void)tt_timeout_when(&t, &deadline); /* cannot fail on an entered scope */
    int owed = sd->owe_cancel;
    io_op op;
    *r = write ? stream_write(sd, buf, n, &op) : stream_read(sd, buf, n, &op);
    *r = tt_timeout_exit(&t, *r);
    op_finish(ctx, op, *r);
    if (*r != -ETIMEDOUT)
        return SCOPE_DONE;
    if (owed)
        return SCOPE_ATE;
    check_deadline(ctx, deadline, write ? "a write in a scope" : "a read in a scope");
    return SCOPE_RETRY;
}

/* One read in a task of its own, for tt_wait_for: it checks and counts what it gets itself,
 * since a sub-task that got data but ends cancelled (its cancel arrived with the data) hands
 * tt_wait_for -ETIMEDOUT, and the bytes are still the stream's. */
typedef struct sub_read {
    io_worker *w;
    stress_rng rng; /* split off the reader's */
    size_t want;
    intptr_t got; /* the call's result; -1000000 if the sub-task never ran */
} sub_read;

static intptr_t sub_read_task(void *arg)
{
    sub_read *sr = arg;
    io_side sd = {sr->w, "sub-reader", 0, NULL, sr->rng};
    uint8_t buf[CHUNK_MAX];
    sr->got = stream_read(&sd, buf, sr->want, NULL);
    if (sr->got < 0 && sr->got != -ECANCELED)
        side_check(&sd, sr->got, "read");
    return sr->got;
}

static intptr_t reader_task(void *arg)
{
    io_worker *w = arg;
    io_side sd = {w, "reader", 0, NULL, w->next_reader};
    io_stream *s = &w->s;
    loop_ctx *ctx = w->ctx;
    uint8_t buf[CHUNK_MAX];
    while (s->recvd < s->target || (s->wclosed && !s->eof)) {
        size_t want = rand_len(&sd.rng, s->wclosed ? CHUNK_MAX : s->target - s->recvd);
        unsigned mode = (unsigned)(stress_rand(&sd.rng) % 20);
        intptr_t r;
        const char *call = "read";
        if (mode < 4) {
            /* A timeout scope: -ETIMEDOUT means nothing was read, else the data counts. */
            call = "read in a timeout scope";
            int act = in_scope(&sd, false, buf, want, &r);
            if (act < 0)
                return act == SCOPE_ATE ? scope_ate_cancel(&sd, call) : -EINVAL;
            if (act == SCOPE_RETRY)
                continue;
        } else if (mode < 8) {
            sub_read sr = {w, stress_rng_split(&sd.rng), want, -1000000};
            tt_future *f = spawn_named(ctx, "io-sub-reader", sub_read_task, &sr);
            if (!f)
                return -ENOMEM;
            int64_t d = rand_delay(ctx, &sd.rng), t0 = tt_now();
            tt_ref(f);
            r = tt_wait_for(f, d);
            /* tt_wait_for never returns while its inner runs (3.12, scenario C048): the
             * sub-task, which writes into sr on this stack, must be done. */
            if (!tt_done(f))
                stress_semantic(ctx, "io: tt_wait_for returned %ld with its sub-task running",
                                (long)r);
            while (!tt_done(f))
                (void)tt_await(tt_ref(f));
            tt_unref(f);
            call = "read under tt_wait_for";
            if (r >= 0 && r != sr.got)
                stress_semantic(ctx, "io: tt_wait_for returned %ld, its sub-task read %ld",
                                (long)r, (long)sr.got);
            if (r >= 0 && cancel_pending() && !sd.owe_cancel) {
                /* tt_wait_for returns a finished inner's result over the caller's cancel, and
                 * the cancel must stay pending: the yield has to deliver it. */
                ctx->rep->io_raced++;
                if (tt_yield() == 0) {
                    ctx->rep->io_cancel_dropped++;
                    stress_semantic(ctx, "io: tt_wait_for returned its inner's result and "
                                         "swallowed the caller's cancellation");
                }
                return -ECANCELED;
            }
            if (r == -ETIMEDOUT) {
                check_deadline(ctx, t0 + d, "tt_wait_for around a read");
                if (sr.got > 0)
                    ctx->rep->io_raced++; /* the data came with the cancel: counted by the sub-task */
                continue;
            }
        } else if (mode == 8) {
            /* A suspension point that is not IO: a pending cancel must come out here too. */
            r = tt_yield();
            call = "yield";
        } else {
            r = stream_read(&sd, buf, want, NULL);
        }
        if (!side_check(&sd, r, call))
            return r;
    }
    return 0;
}

static intptr_t writer_task(void *arg)
{
    io_worker *w = arg;
    io_side sd = {w, "writer", 0, NULL, w->next_writer};
    io_stream *s = &w->s;
    uint8_t buf[CHUNK_MAX];
    while (s->sent < s->target) {
        size_t n = rand_len(&sd.rng, s->target - s->sent);
        stream_fill(s, s->sent, buf, n);
        intptr_t r;
        const char *call = "write";
        if (stress_rand(&sd.rng) % 5 == 0) {
            call = "write in a timeout scope";
            int act = in_scope(&sd, true, buf, n, &r);
            if (act < 0)
                return act == SCOPE_ATE ? scope_ate_cancel(&sd, call) : -EINVAL;
            if (act == SCOPE_RETRY)
                continue;
        } else {
            r = stream_write(&sd, buf, n, NULL);
        }
        if (!side_check(&sd, r, call))
            return r;
    }
    return 0;
}

/* ------------------------------------------------------------------ opening and closing */

static intptr_t accept_task(void *arg)
{
    io_worker *w = arg;
    intptr_t r;
    IO_OP(w->ctx, NULL, K_TCP, r, tt_accept(w->ctx->io_listen, NULL, NULL, SOCK_CLOEXEC));
    return r;
}

static int local_port(int fd, int peer)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&a, &len) : getsockname(fd, (struct sockaddr *)&a, &len);
    return rc == 0 ? ntohs(a.sin_port) : -1;
}

/* A loopback TCP connection made on the ring. Under the loop's lock: the listener is shared and
 * an accept takes whichever connection is first in its backlog. */
static int tcp_pair(io_worker *w, int *client, int *server)
{
    loop_ctx *ctx = w->ctx;
    int rc = tt_lock_acquire(ctx->io_lock);
    if (rc < 0)
        return rc;
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0) {
        rc = -errno;
        tt_lock_release(ctx->io_lock);
        return rc;
    }
    tt_future *af = spawn_named(ctx, "io-accept", accept_task, w);
    if (!af) {
        close(c);
        tt_lock_release(ctx->io_lock);
        return -ENOMEM;
    }
    intptr_t cr;
    IO_OP(ctx, NULL, K_TCP, cr, tt_connect(c, (struct sockaddr *)&ctx->io_addr, ctx->io_addrlen));
    if (cr < 0)
        tt_cancel(af, "connect failed");
    intptr_t s = await_bounded(w, af, "accept");
    tt_lock_release(ctx->io_lock);
    if (cr < 0 || s < 0) {
        stress_semantic(ctx, "io: loopback connection failed: connect %ld (%s), accept %ld (%s)",
                        (long)cr, tt_strerror(cr), (long)s, tt_strerror(s));
        close(c);
        if (s >= 0)
            close((int)s);
        return cr < 0 ? (int)cr : (int)s;
    }
    if (local_port(c, 0) != local_port((int)s, 1))
        stress_semantic(ctx, "io: accept returned another connection (client port %d, peer %d)",
                        local_port(c, 0), local_port((int)s, 1));
    ctx->rep->io_connects++;
    *client = c;
    *server = (int)s;
    return 0;
}

/* Small buffers make writers block and reads come back partial. Not for TCP unless asked
 * (--tcp-small-buffers): on loopback (MSS 32-64 KiB) a send buffer smaller than a segment
 * makes the kernel wait for its persist timer (200 ms, doubling) instead of sending, a stall
 * of the kernel's that would pass for the runtime's in the latency tail (issue 15). */
static void small_buffers(const io_worker *w, int fd, int kind)
{
    int sz = SMALL_BUF;
    if (kind == K_TCP && !w->ctx->sh->cfg->tcp_small_buffers)
        return;
    if (kind == K_PIPE) {
        fcntl(fd, F_SETPIPE_SZ, sz);
    } else {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
}

/* A connected pair of the given kind: fds[0] for reading, fds[1] for writing. */
static int open_pair(io_worker *w, int kind, int fds[2])
{
    int rc = 0;
    if (kind == K_PIPE)
        rc = pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
    else if (kind == K_UNIX)
        rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 ? -errno : 0;
    else
        rc = stress_coin(w->rng, 0.5) ? tcp_pair(w, &fds[0], &fds[1]) : tcp_pair(w, &fds[1], &fds[0]);
    if (rc < 0)
        return rc;
    small_buffers(w, fds[0], kind);
    small_buffers(w, fds[1], kind);
    return 0;
}

static int stream_open(io_worker *w)
{
    io_stream *s = &w->s;
    int fds[2];
    memset(s, 0, sizeof *s);
    s->rfd = s->wfd = -1;
    s->kind = (int)(stress_rand(w->rng) % K_COUNT);
    int rc = open_pair(w, s->kind, fds);
    if (rc < 0) {
        stress_semantic(w->ctx, "io: cannot open a %s stream: %s", kind_names[s->kind], tt_strerror(rc));
        return rc;
    }
    s->rfd = fds[0];
    s->wfd = fds[1];
    s->serial = w->ctx->io_serial++;
    s->key = stress_rand(w->rng);
    return 0;
}

static void close_fd(loop_ctx *ctx, int fd, int kind, const char *what)
{
    intptr_t r;
    IO_OP(ctx, NULL, kind, r, tt_close(fd));
    if (r != 0)
        stress_semantic(ctx, "io: tt_close of %s: %ld (%s)", what, (long)r, tt_strerror(r));
}

/* Closes the writer's end and reads to EOF: the reader must get exactly what was sent. */
static void stream_close(io_worker *w)
{
    io_stream *s = &w->s;
    loop_ctx *ctx = w->ctx;
    if (s->rfd < 0)
        return;
    s->target = s->sent;
    close_fd(ctx, s->wfd, s->kind, "a stream's writing end");
    s->wfd = -1;
    s->wclosed = 1;
    w->next_reader = stress_rng_split(w->rng);
    tt_future *f = spawn_named(ctx, "io-reader-eof", reader_task, w);
    intptr_t r = f ? await_bounded(w, f, "the reader draining to EOF") : -ENOMEM;
    if (r < 0)
        stress_semantic(ctx, "io: %s stream %u: the reader draining to EOF ended %ld (%s)",
                        kind_names[s->kind], s->serial, (long)r, tt_strerror(r));
    else if (s->recvd != s->sent)
        stress_stream_bad(ctx, "%s stream %u: the writer was told %llu bytes were written, the "
                               "reader got %llu before EOF",
                          kind_names[s->kind], s->serial, (unsigned long long)s->sent,
                          (unsigned long long)s->recvd);
    else
        ctx->rep->io_streams++;
    close_fd(ctx, s->rfd, s->kind, "a stream's reading end");
    s->rfd = -1;
}

/* ------------------------------------------------------------------ episodes */

/* Moves the stream on by 1..64 KiB with a reader and a writer task, cancelling one or both up
 * to three times at a random moment; a successor continues from the recorded offset. */
static void episode_transfer(io_worker *w)
{
    loop_ctx *ctx = w->ctx;
    io_stream *s = &w->s;
    s->target = s->sent + 1 + stress_rand(w->rng) % EPISODE_MAX;
    tt_future *rt = NULL, *wt = NULL;
    for (int round = 0;; round++) {
        if (!wt && s->sent < s->target) {
            w->next_writer = stress_rng_split(w->rng);
            if (!(wt = spawn_named(ctx, "io-writer", writer_task, w)))
                break;
        }
        if (!rt && s->recvd < s->target) {
            w->next_reader = stress_rng_split(w->rng);
            if (!(rt = spawn_named(ctx, "io-reader", reader_task, w)))
                break;
        }
        if (!wt && !rt)
            break;
        if (round < 3 && stress_coin(w->rng, w->cancel_rate)) {
            if (stress_rand(w->rng) % 4 == 0)
                tt_yield();
            else
                tt_sleep((int64_t)(stress_rand01(w->rng) * (double)ctx->sh->cfg->mean_ns));
            unsigned pick = (unsigned)(stress_rand(w->rng) % 10);
            if (wt && pick >= 5) {
                tt_cancel(wt, "tt-stress io");
                await_bounded(w, wt, "a cancelled writer");
                wt = NULL;
            }
            if (rt && (pick < 5 || pick == 9)) {
                tt_cancel(rt, "tt-stress io");
                await_bounded(w, rt, "a cancelled reader");
                rt = NULL;
            }
            continue;
        }
        if (wt)
            await_bounded(w, wt, "a writer");
        if (rt)
            await_bounded(w, rt, "a reader");
        wt = rt = NULL;
    }
    if (wt)
        await_bounded(w, wt, "a writer");
    if (rt)
        await_bounded(w, rt, "a reader");
}

/* One blocking call on the idle descriptor; nobody writes there, so it only ends cancelled. */
static intptr_t idle_call(io_worker *w, io_op *held)
{
    intptr_t r;
    char buf[64];
    unsigned pick = (unsigned)(stress_rand(w->rng) % 3);
    if (pick == 0)
        IO_OP(w->ctx, held, w->idle_kind, r, tt_poll(w->idle_fd, POLLIN));
    else if (pick == 1 || w->idle_kind == K_PIPE)
        IO_OP(w->ctx, held, w->idle_kind, r, tt_read(w->idle_fd, buf, sizeof buf, -1));
    else
        IO_OP(w->ctx, held, w->idle_kind, r, tt_recv(w->idle_fd, buf, sizeof buf, 0));
    if (r != -ECANCELED)
        stress_semantic(w->ctx, "io: a blocked call on an idle %s that nobody writes to ended %ld "
                                "(%s), not -ECANCELED", kind_names[w->idle_kind], (long)r,
                        tt_strerror(r));
    return r;
}

static intptr_t idle_task(void *arg)
{
    return idle_call(arg, NULL);
}

static void episode_blocked_cancel(io_worker *w)
{
    loop_ctx *ctx = w->ctx;
    tt_future *f = spawn_named(ctx, "io-idle", idle_task, w);
    if (!f)
        return;
    /* Right after the call is submitted, or after a random delay. */
    if (stress_rand(w->rng) % 4 == 0)
        tt_yield();
    else
        tt_sleep(rand_delay(ctx, w->rng));
    tt_cancel(f, "tt-stress io");
    intptr_t r = await_bounded(w, f, "a cancelled call on an idle descriptor");
    if (r != -ECANCELED)
        stress_semantic(ctx, "io: a task cancelled in a blocked call ended %ld (%s)", (long)r,
                        tt_strerror(r));
}

static void episode_blocked_timeout(io_worker *w)
{
    loop_ctx *ctx = w->ctx;
    int64_t d = rand_delay(ctx, w->rng);
    intptr_t r;
    if (stress_coin(w->rng, 0.5)) {
        tt_timeout t;
        if (tt_timeout_enter(&t, d) < 0) {
            stress_semantic(ctx, "io: tt_timeout_enter failed");
            return;
        }
        int64_t deadline = TT_FOREVER;
        (void)tt_timeout_when(&t, &deadline); /* cannot fail on an entered scope */
        io_op op;
        r = idle_call(w, &op);
        r = tt_timeout_exit(&t, r);
        op_finish(ctx, op, r);
        if (r == -ETIMEDOUT)
            check_deadline(ctx, deadline, "a blocked call in a scope");
        if (cancel_requested())
            stress_semantic(ctx, "io: the timeout scope left its task with %d cancel request(s)",
                            tt_cancelling(tt_current_task()));
    } else {
        tt_future *f = spawn_named(ctx, "io-idle", idle_task, w);
        if (!f)
            return;
        int64_t t0 = tt_now();
        r = tt_wait_for(f, d);
        if (r == -ETIMEDOUT)
            check_deadline(ctx, t0 + d, "tt_wait_for around a blocked call");
    }
    if (r != -ETIMEDOUT)
        stress_semantic(ctx, "io: a timeout around a blocked call ended %ld (%s), not -ETIMEDOUT",
                        (long)r, tt_strerror(r));
}

/* ------------------------------------------------------------------ the worker */

void stress_io_worker(stress_worker *wk)
{
    loop_ctx *ctx = wk->ctx;
    io_worker w;
    memset(&w, 0, sizeof w);
    w.ctx = ctx;
    w.cancel_rate = wk->cancel_rate;
    w.rng = &wk->rng;
    w.s.rfd = w.s.wfd = -1;
    int idle[2];
    w.idle_kind = (int)(stress_rand(w.rng) % K_COUNT);
    int rc = open_pair(&w, w.idle_kind, idle);
    if (rc < 0) {
        stress_semantic(ctx, "io: cannot open an idle %s: %s", kind_names[w.idle_kind], tt_strerror(rc));
        return;
    }
    w.idle_fd = idle[0];
    w.idle_peer = idle[1];
    if (stream_open(&w) < 0)
        goto out;
    while (stress_take(wk)) {
        unsigned pick = (unsigned)(stress_rand(w.rng) % 100);
        if (pick < 60) {
            episode_transfer(&w);
            /* Now and then a fresh stream, of any kind: closing checks the totals. */
            if (stress_rand(w.rng) % 128 == 0) {
                stream_close(&w);
                if (stream_open(&w) < 0) {
                    stress_unit_done(wk);
                    break;
                }
            }
        } else if (pick < 80) {
            episode_blocked_cancel(&w);
        } else {
            episode_blocked_timeout(&w);
        }
        stress_unit_done(wk);
    }
    stream_close(&w);
out:
    close_fd(ctx, w.idle_fd, w.idle_kind, "an idle descriptor");
    close_fd(ctx, w.idle_peer, w.idle_kind, "an idle descriptor's peer");
}

/* ------------------------------------------------------------------ the loop's listener */

int stress_io_setup(loop_ctx *ctx)
{
    /* A writer whose reader is gone must get EPIPE, not kill the process (tt_write on a pipe
     * has no MSG_NOSIGNAL). */
    signal(SIGPIPE, SIG_IGN);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* any free port, on 127.0.0.1 only */
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    ctx->io_lock = tt_lock_new();
    if (!ctx->io_lock) {
        close(fd);
        return -ENOMEM;
    }
    memcpy(&ctx->io_addr, &a, sizeof a);
    ctx->io_addrlen = sizeof a;
    ctx->io_listen = fd;
    return 0;
}

void stress_io_teardown(loop_ctx *ctx)
{
    if (!ctx->io_lock)
        return;
    close(ctx->io_listen);
    ctx->io_listen = -1;
    tt_lock_free(ctx->io_lock);
    ctx->io_lock = NULL;
}
