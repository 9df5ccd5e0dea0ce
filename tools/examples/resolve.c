/* resolve — getaddrinfo behind tt_to_thread, its EAI_* codes mapped into tothread outcomes.
 *
 * A library with its own error space must not hand its codes back raw: glibc's EAI_NONAME is -2,
 * which would read as -ENOENT. This maps them into a range of application codes far below any
 * -errno (tothread leaves every negative value that is not -errno to the application), keeps
 * EAI_SYSTEM's real cause as -errno, and names both kinds. Build:
 *   cc resolve.c $(pkg-config --cflags --libs tothread)      Run: ./resolve [host...]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <tothread.h>

/* Outcomes GAI_BASE + code for every EAI_* code (glibc's are small negative numbers). */
#define GAI_BASE (-100000)
#define GAI_SPAN 1000

static intptr_t gai_outcome(int eai, int saved_errno)
{
    if (eai == EAI_SYSTEM)
        return -saved_errno; /* the real cause is an errno: keep it one */
    return GAI_BASE + eai;
}

static int outcome_is_gai(intptr_t r) { return r <= GAI_BASE && r > GAI_BASE - GAI_SPAN; }

/* Names any outcome: getaddrinfo's own text for its codes, tt_strerror for the rest. */
static const char *outcome_name(intptr_t r)
{
    return outcome_is_gai(r) ? gai_strerror((int)(r - GAI_BASE)) : tt_strerror(r);
}

typedef struct query {
    const char *host;
    int numeric_only;               /* AI_NUMERICHOST: never asks the network */
    char addr[INET6_ADDRSTRLEN];
} query;

/* Runs on a worker thread: getaddrinfo blocks (DNS, /etc/hosts, NSS modules). */
static intptr_t resolve_blocking(void *arg)
{
    query *q = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (q->numeric_only)
        hints.ai_flags = AI_NUMERICHOST;
    struct addrinfo *res = NULL;
    errno = 0;
    int eai = getaddrinfo(q->host, NULL, &hints, &res);
    if (eai != 0)
        return gai_outcome(eai, errno);
    const void *a = res->ai_family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    inet_ntop(res->ai_family, a, q->addr, sizeof q->addr);
    freeaddrinfo(res);
    return 0;
}

typedef struct args {
    int n;
    char **hosts;
} args;

static intptr_t main_task(void *arg)
{
    args *a = arg;
    static query defaults[] = {{"localhost", 0, ""}, {"not-an-address", 1, ""}};
    query qs[16];
    int n = 0;
    for (int i = 0; i < a->n && n < 16; i++)
        qs[n++] = (query){a->hosts[i], 0, ""};
    if (n == 0)
        for (; n < 2; n++)
            qs[n] = defaults[n];
    tt_future *fs[16] = {0};
    for (int i = 0; i < n; i++) {
        fs[i] = tt_to_thread(resolve_blocking, &qs[i]);
        if (!fs[i]) {
            while (i-- > 0)
                tt_unref(fs[i]);
            return -errno;
        }
    }
    intptr_t rs[16] = {0};
    /* Each query reports for itself: a failed lookup is a value here, not the gather's end. */
    int rc = tt_gather(fs, (size_t)n, rs, TT_GATHER_RETURN_ERRORS);
    for (int i = 0; i < n; i++)
        tt_unref(fs[i]);
    if (rc < 0)
        return rc;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        if (rs[i] == 0)
            printf("%-20s %s\n", qs[i].host, qs[i].addr);
        else
            printf("%-20s error %ld: %s%s\n", qs[i].host, (long)rs[i], outcome_name(rs[i]),
                   outcome_is_gai(rs[i]) ? " (getaddrinfo)" : "");
        failed += rs[i] != 0;
    }
    printf("EAI_NONAME raw is %d, which tothread would name \"%s\"; mapped it is %ld, \"%s\"\n",
           EAI_NONAME, tt_strerror(EAI_NONAME), (long)gai_outcome(EAI_NONAME, 0),
           outcome_name(gai_outcome(EAI_NONAME, 0)));
    return failed;
}

int main(int argc, char **argv)
{
    args a = {argc - 1, argv + 1};
    intptr_t failed = 0;
    int rc = tt_run(main_task, &a, &failed);
    if (rc < 0 || failed < 0) {
        fprintf(stderr, "resolve: %s\n", tt_strerror(rc < 0 ? rc : failed));
        return 2;
    }
    return 0;
}
