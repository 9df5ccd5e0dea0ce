/* Helpers for the server-toolkit suites (streams, signals, net, process): socket pairs with small
 * kernel buffers so that reads and writes come back partial, an open-fd count, a byte pattern. */
#ifndef TT_TKUTIL_H
#define TT_TKUTIL_H

#include "testutil.h"

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

/* TASK_TEST(name) { body returning 0 }: testutil.h's TU_TASK_TEST expecting 0. */
#define TASK_TEST(name) TU_TASK_TEST(name, 0)

/* A Unix stream socket pair with SO_SNDBUF/SO_RCVBUF of bufsize (0: the defaults). */
static inline void tk_socketpair(int sv[2], int bufsize)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    for (int i = 0; bufsize > 0 && i < 2; i++) {
        ck_assert_int_eq(setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize), 0);
        ck_assert_int_eq(setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize), 0);
    }
}

/* How many fds this process has open (to check that nothing leaked one). */
static inline int tk_open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* A byte of a deterministic pattern, to check long transfers byte for byte. */
static inline unsigned char tk_pattern(size_t i) { return (unsigned char)(i * 7 + (i >> 9)); }

#endif
