/* Task contexts: the assembly switch (arch/switch_*.S) or a ucontext fallback, wrapped with the
 * ASan and TSan fiber annotations so sanitizers follow a task from stack to stack. */
#include "internal.h"

#ifdef TT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
/* The context we are leaving: finish_switch_fiber tells its stack bounds, which is how the
 * loop thread's own stack gets known. */
static _Thread_local tt_ctx *tls_leaving;
#endif
#ifdef TT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#ifdef TT_CORO_UCONTEXT
#include <signal.h>
#include <ucontext.h>
struct uctx_box {
    ucontext_t uc;
    void (*entry)(void *);
    void *arg;
};
static _Thread_local struct uctx_box *tls_starting;
static void uctx_start(void)
{
    struct uctx_box *b = tls_starting;
    b->entry(b->arg);
    abort(); /* entry never returns */
}
#else
void tt__ctx_trampoline(void);
#endif

void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int ctx_init_thread(tt_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
#ifdef TT_TSAN
    ctx->tsan_fiber = __tsan_get_current_fiber();
#endif
#ifdef TT_CORO_UCONTEXT
    ctx->uctx = calloc(1, sizeof(struct uctx_box));
    if (!ctx->uctx)
        return -ENOMEM;
#endif
    return 0;
}

int ctx_make(tt_ctx *ctx, void *lo, size_t size, void (*entry)(void *), void *arg)
{
#ifdef TT_SANITIZING
    ctx->stack_lo = lo;
    ctx->stack_size = size;
    ctx->asan_fake = NULL;
#endif
#ifdef TT_ASAN
    /* A recycled stack may still carry poison from its previous task's frames. */
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
#ifdef TT_TSAN
    if (!ctx->tsan_fiber)
        ctx->tsan_fiber = __tsan_create_fiber(0);
#endif
#ifdef TT_CORO_UCONTEXT
    if (!ctx->uctx && !(ctx->uctx = calloc(1, sizeof(struct uctx_box))))
        return -ENOMEM;
    struct uctx_box *b = ctx->uctx;
    getcontext(&b->uc);
    b->uc.uc_stack.ss_sp = lo;
    b->uc.uc_stack.ss_size = size;
    b->uc.uc_link = NULL;
    b->entry = entry;
    b->arg = arg;
    makecontext(&b->uc, uctx_start, 0);
#else
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    void **sp = (void **)(top - 56);
    sp[0] = 0;                        /* r15 */
    sp[1] = 0;                        /* r14 */
    sp[2] = arg;                      /* r13 */
    sp[3] = (void *)entry;            /* r12 */
    sp[4] = 0;                        /* rbx */
    sp[5] = 0;                        /* rbp: ends frame-pointer walks */
    sp[6] = (void *)tt__ctx_trampoline;
#elif defined(__aarch64__)
    void **sp = (void **)(top - 160);
    memset(sp, 0, 160);
    sp[0] = (void *)entry;            /* x19 */
    sp[1] = arg;                      /* x20 */
    sp[11] = (void *)tt__ctx_trampoline; /* x30 */
#else
#error "no assembly switch for this architecture: configure with -DTT_CORO_UCONTEXT=ON"
#endif
    ctx->sp = sp;
#endif
    return 0;
}

static inline void before_switch(tt_ctx *from, tt_ctx *to, bool dying)
{
#ifdef TT_ASAN
    tls_leaving = from;
    __sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake, to->stack_lo, to->stack_size);
#endif
#ifdef TT_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from;
    (void)to;
    (void)dying;
}

static inline void after_switch(tt_ctx *self)
{
#ifdef TT_ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(self->asan_fake, &lo, &size);
    if (tls_leaving && !tls_leaving->stack_lo) {
        tls_leaving->stack_lo = (void *)lo;
        tls_leaving->stack_size = size;
    }
#endif
    (void)self;
}

static inline void raw_switch(tt_ctx *from, tt_ctx *to)
{
#ifdef TT_CORO_UCONTEXT
    struct uctx_box *t = to->uctx;
    tls_starting = t;
    /* swapcontext also installs the mask saved in the target context: keep the signal mask a
     * property of the thread (as with the assembly switch), so that a set a task blocks for
     * tt_signal_wait stays blocked when the loop or another task runs. */
    pthread_sigmask(SIG_SETMASK, NULL, &t->uc.uc_sigmask);
    swapcontext(&((struct uctx_box *)from->uctx)->uc, &t->uc);
#else
    tt__ctx_switch(&from->sp, to->sp);
#endif
}

#if defined(TT_SANITIZING) || defined(TT_CORO_UCONTEXT) /* else inline (internal.h) */
void ctx_switch(tt_ctx *from, tt_ctx *to)
{
    before_switch(from, to, false);
    raw_switch(from, to);
    after_switch(from);
}
#endif

void ctx_exit_to(tt_ctx *dying, tt_ctx *to)
{
    before_switch(dying, to, true);
    raw_switch(dying, to);
    abort(); /* a dead context is never resumed */
}

void ctx_entered(tt_ctx *self)
{
#ifdef TT_ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(NULL, &lo, &size);
    if (tls_leaving && !tls_leaving->stack_lo) {
        tls_leaving->stack_lo = (void *)lo;
        tls_leaving->stack_size = size;
    }
#endif
    (void)self;
}

void ctx_destroy(tt_ctx *ctx)
{
#ifdef TT_CORO_UCONTEXT
    free(ctx->uctx);
    ctx->uctx = NULL;
#endif
#ifdef TT_TSAN
    if (ctx->tsan_fiber)
        __tsan_destroy_fiber(ctx->tsan_fiber);
    ctx->tsan_fiber = NULL;
#endif
    (void)ctx;
}
