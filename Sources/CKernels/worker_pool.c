#include "worker_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define WB_CPU_RELAX() _mm_pause()
#else
#define WB_CPU_RELAX() sched_yield()
#endif

enum { WB_POOL_MAX_THREADS = 256 };
/* How long an idle pool thread, or a caller waiting for the pool threads, spins
   before it sleeps or yields. Long enough to span the gap between two regions
   of a decoding step, short enough not to hold a core for long after the work. */
static const int64_t spin_nanoseconds = 200 * 1000;

/* A region is published as one word: its sequence number above, its thread
   count in the low 9 bits. A pool thread reads the task and context only in the
   regions it takes part in; the caller rewrites them only after every
   participant has finished, so a thread that missed a region never reads the
   next region's fields early. */
static _Atomic uint64_t region_word;
static _Atomic int unfinished;          /* pool threads still running this region's parts */
static _Atomic int sleeping;            /* pool threads waiting on `wake` */
static wb_pool_task current_task;
static void *current_context;
static int current_parts;

static pthread_mutex_t caller_lock = PTHREAD_MUTEX_INITIALIZER;   /* one region at a time */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static int pool_threads;                /* started, set once */
static int requested_threads;

static _Thread_local int inside_region;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void run_parts(int thread, int threads, int parts, wb_pool_task task, void *context) {
    for (int part = thread; part < parts; part += threads) task(context, part);
}

/* Waits until region_word differs from `seen`: spins first, then sleeps. */
static uint64_t wait_for_region(uint64_t seen) {
    uint64_t word;
    const int64_t deadline = now_ns() + spin_nanoseconds;
    for (int spins = 0; (word = atomic_load_explicit(&region_word, memory_order_acquire)) == seen; spins++) {
        if ((spins & 63) != 63 || now_ns() < deadline) { WB_CPU_RELAX(); continue; }
        pthread_mutex_lock(&sleep_lock);
        atomic_fetch_add(&sleeping, 1);   /* seq_cst: pairs with the caller's store and load in wb_pool_run */
        while ((word = atomic_load(&region_word)) == seen) pthread_cond_wait(&wake, &sleep_lock);
        atomic_fetch_sub(&sleeping, 1);
        pthread_mutex_unlock(&sleep_lock);
        break;
    }
    return word;
}

static void *pool_thread(void *argument) {
    const int thread = (int)(intptr_t)argument;   /* 1 ... pool_threads; the caller is 0 */
    inside_region = 1;                           /* anything it calls runs nested regions inline */
    uint64_t seen = 0;   /* the word before the first region: a thread that starts late still takes part in it */
    for (;;) {
        seen = wait_for_region(seen);
        const int threads = (int)(seen & 511);
        if (thread >= threads) continue;
        run_parts(thread, threads, current_parts, current_task, current_context);
        atomic_fetch_sub_explicit(&unfinished, 1, memory_order_release);
    }
    return NULL;
}

static void start_pool(void) {
    int wanted = requested_threads - 1;
    if (wanted > WB_POOL_MAX_THREADS - 1) wanted = WB_POOL_MAX_THREADS - 1;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    int started = 0;
    for (int i = 1; i <= wanted; i++) {
        pthread_t id;
        if (pthread_create(&id, &attributes, pool_thread, (void *)(intptr_t)i) != 0) break;
        started++;
    }
    pthread_attr_destroy(&attributes);
    pool_threads = started;
}

void wb_pool_run(int workers, int parts, wb_pool_task task, void *context) {
    if (parts <= 0) return;
    if (workers <= 1 || parts == 1 || inside_region || pthread_mutex_trylock(&caller_lock) != 0) {
        run_parts(0, 1, parts, task, context);
        return;
    }
    requested_threads = workers;
    pthread_once(&start_once, start_pool);
    int threads = workers < pool_threads + 1 ? workers : pool_threads + 1;
    if (threads > parts) threads = parts;
    if (threads <= 1) {
        pthread_mutex_unlock(&caller_lock);
        run_parts(0, 1, parts, task, context);
        return;
    }
    current_task = task;
    current_context = context;
    current_parts = parts;
    atomic_store_explicit(&unfinished, threads - 1, memory_order_relaxed);
    const uint64_t word = ((atomic_load_explicit(&region_word, memory_order_relaxed) >> 9) + 1) << 9 | (uint64_t)threads;
    atomic_store(&region_word, word);   /* seq_cst: a thread going to sleep either sees it or is counted below */
    if (atomic_load(&sleeping) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    inside_region = 1;
    run_parts(0, threads, parts, task, context);
    inside_region = 0;
    const int64_t deadline = now_ns() + spin_nanoseconds;
    for (int spins = 0; atomic_load_explicit(&unfinished, memory_order_acquire) > 0; spins++) {
        if ((spins & 63) != 63 || now_ns() < deadline) WB_CPU_RELAX();
        else sched_yield();
    }
    pthread_mutex_unlock(&caller_lock);
}
