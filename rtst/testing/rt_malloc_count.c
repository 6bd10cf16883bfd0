/* Counts the heap allocations made on real-time threads (SCHED_FIFO or SCHED_RR: the JACK process
 * thread of a client of a server started with -R). Preloaded (LD_PRELOAD) into a process whose
 * audio thread must not allocate; the test reads the count with rtst_rt_allocations() and
 * restarts it with rtst_rt_allocations_reset() (ctypes, from any thread). Each wrapper forwards
 * to the next definition (glibc's) found with dlsym(RTLD_NEXT). Built by rtst.testing.rtmalloc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sched.h>
#include <stddef.h>

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static volatile long rt_allocations;
static __thread int resolving;

/* dlsym may itself call calloc: a small static pool serves that first call */
static char pool[4096];
static size_t pool_used;

static void *from_pool(size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (pool_used + size > sizeof pool) return NULL;
    void *p = pool + pool_used;
    pool_used += size;
    return p;
}

static void resolve(void) {
    if (next_malloc) return;
    resolving = 1;
    next_malloc = dlsym(RTLD_NEXT, "malloc");
    next_calloc = dlsym(RTLD_NEXT, "calloc");
    next_realloc = dlsym(RTLD_NEXT, "realloc");
    next_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    next_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    next_memalign = dlsym(RTLD_NEXT, "memalign");
    resolving = 0;
}

static void count(void) {
    /* the system call, not pthread_getschedparam: glibc caches a thread's policy as set through
     * pthreads and misses one set with sched_setscheduler */
    int policy = sched_getscheduler(0);
    if (policy == SCHED_FIFO || policy == SCHED_RR)
        __atomic_add_fetch(&rt_allocations, 1, __ATOMIC_RELAXED);
}

long rtst_rt_allocations(void) { return __atomic_load_n(&rt_allocations, __ATOMIC_RELAXED); }
void rtst_rt_allocations_reset(void) { __atomic_store_n(&rt_allocations, 0, __ATOMIC_RELAXED); }

void *malloc(size_t size) {
    if (resolving) return from_pool(size);
    resolve();
    count();
    return next_malloc(size);
}

void *calloc(size_t n, size_t size) {
    if (resolving) return from_pool(n * size);  /* the pool is zeroed (static) */
    resolve();
    count();
    return next_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    resolve();
    count();
    return next_realloc(p, size);
}

int posix_memalign(void **p, size_t align, size_t size) {
    resolve();
    count();
    return next_posix_memalign(p, align, size);
}

void *aligned_alloc(size_t align, size_t size) {
    resolve();
    count();
    return next_aligned_alloc(align, size);
}

void *memalign(size_t align, size_t size) {
    resolve();
    count();
    return next_memalign(align, size);
}

void free(void *p) {
    static void (*next_free)(void *);
    if ((char *)p >= pool && (char *)p < pool + sizeof pool) return;
    if (!next_free) next_free = dlsym(RTLD_NEXT, "free");
    next_free(p);
}
