#ifndef WORKBENCH_WORKER_POOL_H
#define WORKBENCH_WORKER_POOL_H

/* A pool of worker threads for short parallel regions.

   Decoding a batch runs about ten parallel regions per block and token (30
   blocks: some 300 per step), each only tens of microseconds long. A worker
   that sleeps between regions takes several microseconds to wake, and the
   caller then waits for it at the end of every region. Here the workers spin
   for a short while after a region (about 200 microseconds) before they sleep,
   so the next region starts at once. The caller runs part 0 itself.

   A call made inside a region (nested), or while another thread holds the pool,
   runs all its parts inline, in order, on the calling thread. */

typedef void (*wb_pool_task)(void *context, int part);

/* Runs task(context, part) for every part in [0, parts), at most `workers`
   threads at a time (the caller and workers - 1 pool threads, started on first
   use), and returns when all are done. */
void wb_pool_run(int workers, int parts, wb_pool_task task, void *context);

#endif
