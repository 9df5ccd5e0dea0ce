/* Task stacks: pooled slots carved from large MAP_NORESERVE chunks, each above a guard as large
 * as the stack itself (up to 1 MiB) that costs no extra mapping where the kernel has
 * MADV_GUARD_INSTALL (so a million stacks fit under vm.max_map_count); the thread that prepares
 * the next chunk while a loop starts many tasks; and the SIGSEGV reporter that names the task
 * whose stack overflowed. */
#include "internal.h"

#include <assert.h>
#include <signal.h>
#include <ucontext.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef TT_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
/* Valgrind must know task stacks to tell a stack switch from a wild jump in sp. */
#define VG_REGISTER(s) ((s)->vg_id = VALGRIND_STACK_REGISTER((s)->lo, (char *)(s)->lo + (s)->size))
#define VG_DEREGISTER(s) VALGRIND_STACK_DEREGISTER((s)->vg_id)
#define VG_RUNNING RUNNING_ON_VALGRIND
#else
#define VG_RUNNING 0
#define VG_REGISTER(s) ((void)(s))
#define VG_DEREGISTER(s) ((void)(s))
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* A frame larger than its guard jumps over it into the neighbouring stack: the guard is as large
 * as the stack (address space only: NORESERVE, and a guard region costs no page), capped. Task
 * code built with -fstack-clash-protection probes every page and cannot jump any guard. */
#define GUARD_MIN 4096u
#define GUARD_MAX ((size_t)1 << 20)
#define CHUNK_MIN 16u
#define CHUNK_MAX 1024u
/* With mprotect guards every stack costs two mappings; past this many we stop guarding rather
 * than run into vm.max_map_count (65530 by default). */
#define MPROTECT_GUARD_LIMIT 16384u
#define OTHER_SIZES 8
#define OTHER_CACHE 64

/* A chunk's slots are handed out in address order; a slot's descriptor is written into the top
 * of its own stack when it is first handed out (that page is the one a new task touches anyway),
 * so a million stacks need no descriptor memory of their own.
 * Freed slots (but the last one, kept warm apart: see stack_put) are marked in the chunk's bitmap
 * and handed out again lowest first within a chunk (the chunk that last got a slot back goes
 * first), not last freed first: tasks that end in the order of their deadlines (W7) leave their
 * stacks free in a random order, and the next tasks started on them then paid a page walk per
 * stack that shared nothing with the one before (W7 warm: median 0.144 s, in address order
 * 0.123 s). With few tasks alive at once the lowest slots are the ones just freed, so a busy
 * loop's stacks stay few and warm as with last-freed-first. */
typedef struct stack_chunk {
    struct stack_chunk *next;
    struct stack_chunk *next_partial; /* the pool's chunks with freed slots */
    char *base;
    size_t len;
    unsigned nslots;
    unsigned nused; /* slots handed out at least once: their descriptors are written */
    unsigned nfree; /* of those, free again: their bits are set */
    unsigned scan;  /* no word below this one has a bit set */
    uint64_t free_bits[]; /* one bit per slot */
} chunk;

typedef struct other_size {
    size_t size;
    tt_stack *free;
    unsigned nfree;
} other_size;

/* A stack of another size carries links in the list of those in use (tasks of the default size,
 * the many, are found by walking the chunks instead). */
typedef struct other_stack {
    tt_stack s;
    struct other_stack *prev, *next;
} other_stack;

typedef struct stack_prep stack_prep;

struct stack_pool {
    size_t default_size;
    size_t slot, guard;  /* a default-size slot: its guard, then its stack */
    tt_stack *hot;       /* the default-size stack freed last, outside the bitmaps */
    chunk *partial;      /* chunks with freed default-size slots (newest partial first) */
    other_stack *others_in_use;
    chunk *chunks;       /* newest first: only the first can have slots never handed out */
    unsigned next_chunk_slots;
    bool prep_failed;    /* no preparer thread could be started: chunks are made inline */
    stack_prep *prep;
    other_size other[OTHER_SIZES];
};

enum { GUARD_UNKNOWN, GUARD_MADV_BATCH, GUARD_MADV, GUARD_MPROTECT };
static atomic_int guard_mode = GUARD_UNKNOWN;
static atomic_uint mprotect_guards;
static int self_pidfd = -1;
static pthread_once_t pidfd_once = PTHREAD_ONCE_INIT;

static void open_self_pidfd(void) { self_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0); }

/* Sizes reaching here are capped at TT_MAX_STACK, so this cannot wrap. */
static void write_str(const char *s) { (void)!write(2, s, strlen(s)); }

static size_t page_round(size_t n) { return (n + 4095) & ~(size_t)4095; }

static size_t guard_for(size_t stack_size)
{
    return stack_size < GUARD_MIN ? GUARD_MIN : stack_size > GUARD_MAX ? GUARD_MAX : stack_size;
}

/* Guards [addr, addr + len) for each address (no guard past the mprotect limit). */
static void install_guards(void **addrs, unsigned n, size_t len)
{
    int mode = atomic_load_explicit(&guard_mode, memory_order_relaxed);
    if (mode == GUARD_UNKNOWN || mode == GUARD_MADV_BATCH) {
        pthread_once(&pidfd_once, open_self_pidfd);
        if (self_pidfd >= 0) {
            struct iovec iov[256];
            unsigned done = 0;
            while (done < n) {
                unsigned k = n - done < 256 ? n - done : 256;
                for (unsigned i = 0; i < k; i++) {
                    iov[i].iov_base = addrs[done + i];
                    iov[i].iov_len = len;
                }
                if (syscall(SYS_process_madvise, self_pidfd, iov, k, MADV_GUARD_INSTALL, 0) < 0)
                    break;
                done += k;
            }
            if (done == n) {
                atomic_store(&guard_mode, GUARD_MADV_BATCH);
                return;
            }
            addrs += done;
            n -= done;
        }
        mode = GUARD_MADV;
    }
    if (mode == GUARD_MADV) {
        unsigned i = 0;
        while (i < n && madvise(addrs[i], len, MADV_GUARD_INSTALL) == 0)
            i++;
        if (i == n) {
            atomic_store(&guard_mode, GUARD_MADV);
            return;
        }
        addrs += i;
        n -= i;
        atomic_store(&guard_mode, GUARD_MPROTECT);
    }
    for (unsigned i = 0; i < n; i++) {
        if (atomic_fetch_add(&mprotect_guards, 1) == MPROTECT_GUARD_LIMIT)
            write_str("tothread: more than 16384 task stacks on a kernel without "
                      "MADV_GUARD_INSTALL (Linux < 6.13): further stacks have no guard page\n");
        if (atomic_load(&mprotect_guards) > MPROTECT_GUARD_LIMIT)
            return;
        mprotect(addrs[i], len, PROT_NONE);
    }
}

/* ------------------------------------------------------------------- the preparer */
/* Faulting a fresh page costs the kernel (and, in a VM, the hypervisor) microseconds: a million
 * new tasks spend most of their start-up there. Once a pool has grown to full-size chunks, a
 * thread of its own makes the next chunks ahead (mapping, guards, the top page of every stack
 * faulted in) on another CPU, while the loop works through the current one. At most PREP_AHEAD
 * prepared chunks wait (CHUNK_MAX top pages each: 4 MiB); the loop makes a chunk itself whenever
 * none is ready, so the preparer only ever adds speed: two CPUs fault pages instead of one. */
#define PREP_AHEAD 2u
struct stack_prep {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    size_t size, guard;
    bool asked; /* the loop took a chunk: fill up to PREP_AHEAD again */
    bool stop;
    unsigned nready;
    chunk *ready; /* linked by next */
};

/* Maps n slots of guard + size bytes and installs their guards; with touch, also faults in the
 * top page of every stack (only for a chunk nobody else can see yet: plain writes). */
static chunk *chunk_make(size_t size, size_t guard, unsigned n, bool touch)
{
    size_t slot = guard + size;
    chunk *c = calloc(1, sizeof *c + (n + 63) / 64 * sizeof(uint64_t));
    void **guards = malloc(n * sizeof(void *));
    void *base = MAP_FAILED;
    if (c && guards)
        base = mmap(NULL, slot * n, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) {
        free(c);
        free(guards);
        return NULL;
    }
    c->base = base;
    c->len = slot * n;
    c->nslots = n;
    for (unsigned i = 0; i < n; i++)
        guards[i] = c->base + (size_t)i * slot;
    install_guards(guards, n, guard);
    free(guards);
    if (touch)
        for (unsigned i = 0; i < n; i++)
            *(volatile char *)(c->base + (size_t)(i + 1) * slot - 1) = 0;
    return c;
}

static void chunk_unmap(chunk *c)
{
    munmap(c->base, c->len);
    free(c);
}

static void *prep_main(void *arg)
{
    stack_prep *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (!p->asked || p->nready >= PREP_AHEAD) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        chunk *c = chunk_make(p->size, p->guard, CHUNK_MAX, true);
        pthread_mutex_lock(&p->mu);
        if (!c) {
            p->asked = false; /* no memory: asked again at the loop's next grow */
            continue;
        }
        c->next = p->ready;
        p->ready = c;
        p->nready++;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Starts sp's preparer (all signals blocked, as in every thread the library creates). */
static void prep_start(stack_pool *sp)
{
    stack_prep *p = calloc(1, sizeof *p);
    if (!p) {
        sp->prep_failed = true;
        return;
    }
    p->size = sp->default_size;
    p->guard = sp->guard;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->th, &attr, prep_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        sp->prep_failed = true;
        return;
    }
    pthread_setname_np(p->th, "tt-stacks");
    sp->prep = p;
}

/* A prepared chunk if one is ready (NULL if not), and more asked for. */
static chunk *prep_take(stack_prep *p)
{
    pthread_mutex_lock(&p->mu);
    chunk *c = p->ready;
    if (c) {
        p->ready = c->next;
        p->nready--;
    }
    p->asked = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return c;
}

static void prep_stop(stack_prep *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    for (chunk *c = p->ready, *next; c; c = next) {
        next = c->next;
        chunk_unmap(c);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ------------------------------------------------------------------------- the pool */
/* Room at the top of a chunk's stack for its descriptor: a cache line, so the stack below it
 * keeps its 16-byte alignment. */
#define DESC_ROOM 64u
static_assert(sizeof(tt_stack) <= DESC_ROOM, "a stack's descriptor must fit its room");

stack_pool *stack_pool_new(size_t default_size)
{
    stack_pool *sp = calloc(1, sizeof *sp);
    if (!sp)
        return NULL;
    sp->default_size = page_round(default_size);
    sp->guard = guard_for(sp->default_size);
    sp->slot = sp->guard + sp->default_size;
    sp->next_chunk_slots = CHUNK_MIN;
    return sp;
}

static int grow_default(stack_pool *sp)
{
    unsigned n = sp->next_chunk_slots;
    chunk *c = NULL;
    if (n == CHUNK_MAX && !sp->prep && !sp->prep_failed)
        prep_start(sp);
    if (sp->prep)
        c = prep_take(sp->prep);
    if (!c && !(c = chunk_make(sp->default_size, sp->guard, n, false)))
        return -ENOMEM;
    c->next = sp->chunks;
    sp->chunks = c;
    live_add(LIVE_STACKS, c->nslots);
    if (sp->next_chunk_slots < CHUNK_MAX)
        sp->next_chunk_slots *= 2;
    return 0;
}

static tt_stack *slot_desc(const stack_pool *sp, const chunk *c, unsigned i)
{
    return (tt_stack *)(c->base + (size_t)(i + 1) * sp->slot - DESC_ROOM);
}

/* A slot never handed out before: its descriptor written at the top of its stack. */
static tt_stack *carve(stack_pool *sp)
{
    chunk *c = sp->chunks;
    if ((!c || c->nused == c->nslots) && grow_default(sp) < 0)
        return NULL;
    c = sp->chunks;
    unsigned i = c->nused++;
    tt_stack *s = slot_desc(sp, c, i);
    s->lo = c->base + (size_t)i * sp->slot + sp->guard;
    s->size = sp->default_size - DESC_ROOM;
    s->guard = sp->guard;
    s->chunk = c;
    s->index = i;
    VG_REGISTER(s);
    return s;
}

tt_stack *stack_get(stack_pool *sp, size_t size)
{
    size = size ? page_round(size) : sp->default_size;
    if (size == sp->default_size) {
        tt_stack *s = sp->hot;
        chunk *c;
        if (s) {
            sp->hot = NULL;
        } else if ((c = sp->partial)) {
            unsigned w = c->scan;
            while (!c->free_bits[w])
                w++;
            unsigned i = w * 64 + (unsigned)__builtin_ctzll(c->free_bits[w]);
            c->free_bits[w] &= c->free_bits[w] - 1;
            c->scan = w;
            if (--c->nfree == 0)
                sp->partial = c->next_partial;
            s = slot_desc(sp, c, i);
            /* The slot above's descriptor, when it is the next one handed out, and the lines
             * below it, where its task's first frames go: a loop starting many tasks on
             * recycled stacks otherwise waits for each of those pages in turn. */
            unsigned j = i + 1;
            if (j < c->nused && (c->free_bits[j / 64] >> (j % 64) & 1)) {
                char *n = (char *)slot_desc(sp, c, j);
                __builtin_prefetch(n, 1);
                __builtin_prefetch(n - 64, 1);
                __builtin_prefetch(n - 128, 1);
            }
        } else if (!(s = carve(sp))) {
            return NULL;
        }
        s->task = NULL;
        s->in_use = 1;
        return s;
    }
    tt_stack *s = NULL;
    for (int i = 0; i < OTHER_SIZES && !s; i++) {
        other_size *o = &sp->other[i];
        if (o->size == size && o->free) {
            s = o->free;
            o->free = s->next_free;
            o->nfree--;
        }
    }
    if (!s) {
        other_stack *os = malloc(sizeof *os);
        if (!os)
            return NULL;
        s = &os->s;
        size_t guard = guard_for(size);
        char *base = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (base == MAP_FAILED) {
            free(os);
            return NULL;
        }
        void *g = base;
        install_guards(&g, 1, guard);
        s->lo = base + guard;
        s->size = size;
        s->guard = guard;
        s->chunk = NULL;
        VG_REGISTER(s);
        live_add(LIVE_STACKS, 1);
    }
    s->task = NULL;
    s->in_use = 1;
    other_stack *os = TT_CONTAINER_OF(s, other_stack, s);
    os->prev = NULL;
    os->next = sp->others_in_use;
    if (os->next)
        os->next->prev = os;
    sp->others_in_use = os;
    return s;
}

void stack_for_each_task(stack_pool *sp, void (*fn)(struct tt_task *t, void *arg), void *arg)
{
    for (chunk *c = sp->chunks; c; c = c->next)
        for (unsigned i = 0; i < c->nused; i++) {
            tt_stack *s = slot_desc(sp, c, i);
            if (s->in_use && s->task)
                fn(s->task, arg);
        }
    for (other_stack *os = sp->others_in_use; os; os = os->next)
        if (os->s.task)
            fn(os->s.task, arg);
}

static void unmap_single(tt_stack *s)
{
    VG_DEREGISTER(s);
    munmap((char *)s->lo - s->guard, s->size + s->guard);
    free(TT_CONTAINER_OF(s, other_stack, s));
    live_add(LIVE_STACKS, -1);
}

void stack_put(stack_pool *sp, tt_stack *s)
{
    s->in_use = 0;
    chunk *c = s->chunk;
    if (c) {
        /* The stack just freed is kept apart and taken first: a loop that starts a task as
         * another ends (W4) reuses one warm stack for two stores. The one it displaces goes to
         * its bitmap. */
        tt_stack *old = sp->hot;
        assert(old != s); /* put twice */
        sp->hot = s;
        if (!old)
            return;
        s = old;
        c = s->chunk;
        unsigned w = s->index / 64;
        uint64_t bit = (uint64_t)1 << (s->index % 64);
        assert(!(c->free_bits[w] & bit)); /* put twice: nfree would outgrow the bits */
        c->free_bits[w] |= bit;
        if (w < c->scan)
            c->scan = w;
        if (c->nfree++ == 0) {
            c->next_partial = sp->partial;
            sp->partial = c;
        }
        return;
    }
    other_stack *os = TT_CONTAINER_OF(s, other_stack, s);
    if (os->prev)
        os->prev->next = os->next;
    else
        sp->others_in_use = os->next;
    if (os->next)
        os->next->prev = os->prev;
    other_size *empty = NULL;
    for (int i = 0; i < OTHER_SIZES; i++) {
        other_size *o = &sp->other[i];
        if (o->size == s->size) {
            if (o->nfree >= OTHER_CACHE)
                break;
            s->next_free = o->free;
            o->free = s;
            o->nfree++;
            return;
        }
        if (!empty && o->nfree == 0)
            empty = &sp->other[i];
    }
    if (empty && empty->size != s->size && empty->nfree == 0) {
        empty->size = s->size;
        s->next_free = NULL;
        empty->free = s;
        empty->nfree = 1;
        return;
    }
    unmap_single(s);
}

void stack_pool_free(stack_pool *sp)
{
    if (!sp)
        return;
    if (sp->prep)
        prep_stop(sp->prep);
    for (chunk *c = sp->chunks, *next; c; c = next) {
        next = c->next;
        /* Only under Valgrind: the walk reads every descriptor, a cache miss per stack. */
        for (unsigned i = 0; VG_RUNNING && i < c->nused; i++)
            VG_DEREGISTER(slot_desc(sp, c, i));
        live_add(LIVE_STACKS, -(long)c->nslots);
        chunk_unmap(c);
    }
    for (int i = 0; i < OTHER_SIZES; i++)
        for (tt_stack *s = sp->other[i].free, *next; s; s = next) {
            next = s->next_free;
            unmap_single(s);
        }
    free(sp);
}

/* ---------------------------------------------------------------- overflow reporting */

#ifdef TT_SANITIZING
/* The sanitizers catch and report stack overflows themselves. */
int stack_overflow_handler_install(void) { return 0; }
void stack_overflow_handler_uninstall(void) {}
#else

static struct sigaction previous_segv;
static pthread_once_t segv_once = PTHREAD_ONCE_INIT;
static _Thread_local void *tls_altstack;


/* The interrupted stack pointer, or 0 where we do not know how to read it. */
static uintptr_t fault_sp(void *uc)
{
#if defined(__x86_64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

static void write_task_name(const tt_task *t)
{
    if (t->name) {
        write_str(t->name);
        return;
    }
    char buf[32], *p = buf + sizeof buf; /* the default name, task-N, without stdio */
    *--p = 0;
    uint64_t id = t->id;
    do
        *--p = (char)('0' + id % 10);
    while ((id /= 10) && p > buf + 5);
    write_str("task-");
    write_str(p);
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    tt_loop *loop = tls_loop;
    tt_task *t = loop ? loop->current : NULL;
    if (t && t->stack) {
        /* A fault in the task's reservation (its guard), or with the stack pointer already
         * below its stack: a frame too large for any guard (1 MiB of locals). */
        uintptr_t addr = (uintptr_t)si->si_addr, sp = fault_sp(uc);
        uintptr_t lo = (uintptr_t)t->stack->lo;
        if ((addr < lo && addr >= lo - t->stack->guard) || (sp && sp < lo && lo - sp < TT_MAX_STACK)) {
            write_str("tothread: stack overflow in task '");
            write_task_name(t);
            write_str("' (stack too small: raise tt_task_opts.stack_size or tt_loop_opts.stack_size)\n");
            signal(SIGSEGV, SIG_DFL);
            abort();
        }
    }
    if (previous_segv.sa_flags & SA_SIGINFO && previous_segv.sa_sigaction) {
        previous_segv.sa_sigaction(sig, si, uc);
        return;
    }
    if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN &&
        previous_segv.sa_handler) {
        previous_segv.sa_handler(sig);
        return;
    }
    signal(SIGSEGV, SIG_DFL); /* the fault repeats and ends the process the usual way */
}

static void install_segv(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
}

int stack_overflow_handler_install(void)
{
    if (!tls_altstack) {
        size_t sz = 65536;
        void *p = malloc(sz);
        if (!p)
            return -ENOMEM;
        stack_t ss = {.ss_sp = p, .ss_size = sz, .ss_flags = 0};
        if (sigaltstack(&ss, NULL) < 0) {
            free(p);
            return 0; /* an application's own alternate stack stays */
        }
        tls_altstack = p;
    }
    pthread_once(&segv_once, install_segv);
    return 0;
}

void stack_overflow_handler_uninstall(void)
{
    if (!tls_altstack)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(tls_altstack);
    tls_altstack = NULL;
}
#endif
