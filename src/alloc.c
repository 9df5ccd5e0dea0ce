/* The loop's allocator: objects owned by one loop (futures, tasks, jobs, callback nodes) come
 * from per-size-class freelists fed by slabs, so creating one costs no malloc on the hot path.
 * The memory goes back only with the loop (its shell: see future.c). */
#include "internal.h"

#include <sys/mman.h>
#ifdef TT_ASAN
#include <sanitizer/asan_interface.h>
/* A free object is poisoned, so a use after tt_unref (or after a node went back) is reported
 * where it happens instead of corrupting the freelist. */
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct slab {
    struct slab *next;
    size_t bytes;
    _Alignas(64) char mem[]; /* a 64- or 128-byte object spans exactly one or two cache lines */
};

#define SLAB_MIN (64 * 1024)
#define SLAB_MAX (2 * 1024 * 1024)
static const uint16_t class_size[SIZE_CLASSES] = SLAB_CLASS_SIZES;

/* Slabs grow geometrically per class and are mapped pre-faulted (MAP_POPULATE): the kernel fills
 * a whole slab in one call, much cheaper than a page fault per page, and the objects are about
 * to be used anyway. A new slab is not threaded into the freelist: its objects are handed out by
 * a bump pointer, so none is written before its first use and taking one reads no link (a
 * freelist threaded up front wrote every object once and missed the cache on each one's link
 * again when it was taken). Out of line: inlined, it made every slab_get save five registers. */
__attribute__((noinline)) static void *slab_grow(tt_loop *loop, unsigned cls)
{
    size_t bytes = loop->alloc.slab_next[cls] ? loop->alloc.slab_next[cls] : SLAB_MIN;
    struct slab *s = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (s == MAP_FAILED)
        return NULL;
    if (bytes < SLAB_MAX)
        loop->alloc.slab_next[cls] = bytes * 2;
    s->bytes = bytes;
    s->next = loop->alloc.slabs;
    loop->alloc.slabs = s;
    size_t sz = class_size[cls], n = (bytes - sizeof *s) / sz;
    /* Fresh objects stay poisoned until handed out, as freed ones are; so does the tail that
     * holds no whole object. */
    POISON(s->mem, bytes - sizeof *s);
    loop->alloc.bump[cls] = s->mem + sz;
    loop->alloc.bump_end[cls] = s->mem + n * sz;
    return s->mem;
}

void *slab_get(tt_loop *loop, unsigned cls)
{
    void *p = loop->alloc.free_objs[cls];
    if (p) { /* a freed object first: it is likely still in cache */
        UNPOISON(p, class_size[cls]);
        /* The next one, in case it is not: objects freed in the order their tasks ended (W7's
         * deadlines) are taken in that order, scattered, and each cost a miss on its link. */
        void *next = loop->alloc.free_objs[cls] = *(void **)p;
        if (next) /* a prefetch of NULL still walks the page tables */
            __builtin_prefetch(next, 1);
        return p;
    }
    char *b = loop->alloc.bump[cls];
    if (TT_LIKELY(b != loop->alloc.bump_end[cls])) {
        loop->alloc.bump[cls] = b + class_size[cls];
    } else if (!(b = slab_grow(loop, cls))) {
        return NULL;
    }
    UNPOISON(b, class_size[cls]);
    return b;
}

void slab_put(tt_loop *loop, unsigned cls, void *p)
{
    *(void **)p = loop->alloc.free_objs[cls];
    loop->alloc.free_objs[cls] = p;
    POISON(p, class_size[cls]);
}

void slab_free_all(tt_loop *loop)
{
    for (struct slab *s = loop->alloc.slabs, *next; s; s = next) {
        next = s->next;
        UNPOISON(s, s->bytes);
        munmap(s, s->bytes);
    }
    loop->alloc.slabs = NULL;
    memset(loop->alloc.free_objs, 0, sizeof loop->alloc.free_objs);
    memset(loop->alloc.bump, 0, sizeof loop->alloc.bump);
    memset(loop->alloc.bump_end, 0, sizeof loop->alloc.bump_end);
}

cb_node *cb_node_get(tt_loop *loop)
{
    cb_node *n = slab_get(loop, 0);
    if (TT_LIKELY(n))
        n->ri.kind = RK_CALLBACK;
    return n;
}

void cb_node_put(tt_loop *loop, cb_node *n) { slab_put(loop, 0, n); }
