/* libiris benchmark: request round-trip latency (1 in flight, 1-byte messages), request
   throughput (128 in flight from 128 threads over one connection) and publish events/s to one
   subscriber. Usage: bench PORT */
#define _GNU_SOURCE
#include <iris.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IN_FLIGHT 128

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void echo(void *context, const uint8_t *req, size_t len, iris_reply *reply) {
    (void)context;
    iris_reply_ok(reply, req, len);
}

static int request_once(const iris_connection *conn) {
    uint8_t *reply;
    size_t len;
    int status = iris_request(conn, "bench", (const uint8_t *)"x", 1, 10000, &reply, &len);
    if (status == IRIS_OK) iris_free_bytes(reply);
    return status;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct worker {
    const iris_connection *conn;
    double until;
    long done;
    int errors;
} worker;

static void *throughput_worker(void *arg) {
    worker *w = arg;
    while (now_s() < w->until) {
        if (request_once(w->conn) == IRIS_OK) w->done++;
        else w->errors++;
    }
    return NULL;
}

static atomic_long g_events;
static void on_event(void *context, const uint8_t *event, size_t len) {
    (void)context, (void)event, (void)len;
    atomic_fetch_add(&g_events, 1);
}

int main(int argc, char **argv) {
    uint16_t port = (uint16_t)atoi(argc > 1 ? argv[1] : "55555");
    iris_service_handler handler = {.handle_request = echo};
    iris_service *service;
    iris_connection *conn;
    if (iris_register(port, "bench", &handler, NULL, &service) != IRIS_OK || iris_connect(port, &conn) != IRIS_OK) {
        fprintf(stderr, "setup failed: %s\n", iris_last_error_message());
        return 1;
    }

    /* Latency: one request in flight. */
    for (int i = 0; i < 500; i++) request_once(conn);
    enum { N = 5000 };
    static double lat[N];
    double start = now_s();
    for (int i = 0; i < N; i++) {
        double t = now_s();
        if (request_once(conn) != IRIS_OK) {
            fprintf(stderr, "request failed: %s\n", iris_last_error_message());
            return 1;
        }
        lat[i] = (now_s() - t) * 1e6;
    }
    double total = now_s() - start;
    qsort(lat, N, sizeof lat[0], cmp_double);
    printf("request latency (1 in flight, 1 B): mean %.1f us, p50 %.1f us, p99 %.1f us (%d requests)\n",
           total * 1e6 / N, lat[N / 2], lat[N * 99 / 100], N);

    /* Throughput: 128 requests in flight. */
    pthread_t threads[IN_FLIGHT];
    worker workers[IN_FLIGHT];
    double duration = 3.0;
    start = now_s();
    for (int i = 0; i < IN_FLIGHT; i++) {
        workers[i] = (worker){.conn = conn, .until = start + duration};
        pthread_create(&threads[i], NULL, throughput_worker, &workers[i]);
    }
    long done = 0;
    int errors = 0;
    for (int i = 0; i < IN_FLIGHT; i++) {
        pthread_join(threads[i], NULL);
        done += workers[i].done;
        errors += workers[i].errors;
    }
    double elapsed = now_s() - start;
    printf("request throughput (%d in flight, 1 B): %.0f requests/s (%ld requests, %d errors)\n", IN_FLIGHT,
           done / elapsed, done, errors);

    /* Publish: events/s delivered to one subscriber. */
    iris_connection *sub;
    iris_connect(port, &sub);
    iris_topic_handler th = {.handle_event = on_event};
    iris_subscribe(sub, "bench-topic", &th, NULL);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    long events = 1000000;
    start = now_s();
    for (long i = 0; i < events; i++) iris_publish(conn, "bench-topic", (const uint8_t *)"e", 1);
    double deadline = now_s() + 30;
    while (atomic_load(&g_events) < events && now_s() < deadline) {
        struct timespec tick = {0, 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    elapsed = now_s() - start;
    long got = atomic_load(&g_events);
    printf("publish to 1 subscriber (1 B): %.0f events/s (%ld of %ld delivered)\n", got / elapsed, got, events);

    iris_connection_close(sub);
    iris_connection_free(sub);
    iris_connection_close(conn);
    iris_connection_free(conn);
    iris_service_unregister(service);
    iris_service_free(service);
    return 0;
}
