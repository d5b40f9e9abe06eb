/* http_pool.c - the write pool: threads that run the requests which may wait for the disk (a
 * commit's fsync, its group's commit, the writer's turn), so that the connection threads, sized
 * for the CPU, never wait for it and keep answering reads. Jobs run in the order they came. Once
 * the pool is stopped, a job submitted (a keep-alive client's late request while the server stops)
 * runs at once on the submitting thread, so that no connection stays suspended. */
#include <pthread.h>
#include <stdlib.h>

#include "net/http_internal.h"

struct http_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    http_job *head, *tail;
    int stopping;
    http_job_fn fn;
    unsigned nthreads;
    pthread_t threads[];
};

static void *http_pool_thread(void *arg)
{
    http_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
        http_job *job = p->head;
        if (!job) break; /* stopping, and nothing left to run */
        p->head = job->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        p->fn(job);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

http_pool *http_pool_start(unsigned threads, http_job_fn fn)
{
    http_pool *p = calloc(1, sizeof *p + threads * sizeof(pthread_t));
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->fn = fn;
    for (; p->nthreads < threads; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, http_pool_thread, p)) {
            http_pool_free(p);
            return NULL;
        }
        pthread_setname_np(p->threads[p->nthreads], "socle-write");
    }
    return p;
}

void http_pool_submit(http_pool *p, http_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        p->fn(job);
        return;
    }
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void http_pool_stop(http_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

void http_pool_free(http_pool *p)
{
    if (!p) return;
    http_pool_stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
