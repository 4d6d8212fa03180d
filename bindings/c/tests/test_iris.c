/* The libiris C test suite: every pattern, limits, timeouts, faults, concurrency, tunnels (with a
   16 MiB message), close from another thread, lifecycle of callbacks, argument checks, SIGPIPE. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static test_node g_node;
#define PORT (g_node.port)
#define SECOND 1000

/* ---------------------------------------------------------------------------------------------
   An echo service whose behaviour depends on the request, with counters the tests inspect. */

typedef struct service_state {
    atomic_int init_calls;
    atomic_int requests;
    atomic_int broadcasts;
    atomic_int tunnels;
    atomic_int handle_drops;
    atomic_int drops;
    atomic_int running;
    atomic_int peak;
    atomic_int drop_status;
    atomic_int init_result;
    atomic_int requests_before_init;
    atomic_int active;         /* callbacks running right now */
    atomic_int active_at_drop; /* `active` when drop ran: must be 0 */
    unsigned delay_ms;
    const iris_connection *conn; /* from init */
    char last_broadcast[64];
    char broadcast_order[64]; /* first octet of each broadcast, in arrival order */
    char drop_reason[256];
} service_state;

static void note_concurrency(service_state *s, int delta) {
    int now = atomic_fetch_add(&s->running, delta) + delta;
    int peak = atomic_load(&s->peak);
    while (now > peak && !atomic_compare_exchange_weak(&s->peak, &peak, now)) {
    }
}

static int svc_init(void *context, const iris_connection *conn) {
    service_state *s = context;
    s->conn = conn;
    atomic_fetch_add(&s->init_calls, 1);
    return atomic_load(&s->init_result);
}

static int is(const uint8_t *data, size_t len, const char *text) {
    return len == strlen(text) && memcmp(data, text, len) == 0;
}

static void svc_request_body(service_state *s, const uint8_t *req, size_t len, iris_reply *reply);

static void svc_request(void *context, const uint8_t *req, size_t len, iris_reply *reply) {
    service_state *s = context;
    atomic_fetch_add(&s->active, 1);
    svc_request_body(s, req, len, reply);
    atomic_fetch_sub(&s->active, 1);
}

static void svc_request_body(service_state *s, const uint8_t *req, size_t len, iris_reply *reply) {
    if (atomic_load(&s->init_calls) == 0) atomic_fetch_add(&s->requests_before_init, 1);
    atomic_fetch_add(&s->requests, 1);
    if (is(req, len, "fail")) {
        iris_reply_fault(reply, "refused: fail");
    } else if (is(req, len, "noreply")) {
        /* no answer at all */
    } else if (is(req, len, "empty")) {
        iris_reply_ok(reply, NULL, 0);
    } else if (is(req, len, "slow")) {
        sleep_ms(3000);
        iris_reply_ok(reply, (const uint8_t *)"slow done", 9);
    } else if (is(req, len, "close")) {
        /* Closing the service's own connection from inside a handler must not deadlock. */
        atomic_store(&s->init_result, iris_connection_close(s->conn));
        iris_reply_ok(reply, req, len);
    } else if (is(req, len, "nested")) {
        /* A handler may use the service's own connection as a client. */
        uint8_t *inner = NULL;
        size_t inner_len = 0;
        if (iris_request(s->conn, "c-echo", (const uint8_t *)"inner", 5, 5000, &inner, &inner_len) == IRIS_OK) {
            iris_reply_ok(reply, inner, inner_len);
            iris_free_bytes(inner);
        } else {
            iris_reply_fault(reply, iris_last_error_message());
        }
    } else {
        note_concurrency(s, 1);
        if (s->delay_ms) sleep_ms(s->delay_ms);
        note_concurrency(s, -1);
        iris_reply_ok(reply, req, len);
    }
}

static void svc_broadcast(void *context, const uint8_t *msg, size_t len) {
    service_state *s = context;
    size_t n = len < sizeof s->last_broadcast - 1 ? len : sizeof s->last_broadcast - 1;
    memcpy(s->last_broadcast, msg, n);
    s->last_broadcast[n] = '\0';
    int i = atomic_load(&s->broadcasts);
    if (i < 63 && len > 0) s->broadcast_order[i] = (char)msg[0];
    atomic_fetch_add(&s->broadcasts, 1);
}

static void svc_tunnel(void *context, iris_tunnel *tunnel) {
    service_state *s = context;
    atomic_fetch_add(&s->active, 1);
    atomic_fetch_add(&s->tunnels, 1);
    for (;;) {
        uint8_t *msg = NULL;
        size_t len = 0;
        if (iris_tunnel_recv(tunnel, 0, &msg, &len) != IRIS_OK) break;
        int burst = is(msg, len, "burst");
        int ok;
        if (burst) {
            ok = iris_tunnel_send(tunnel, (const uint8_t *)"1", 1, 5000) == IRIS_OK &&
                 iris_tunnel_send(tunnel, (const uint8_t *)"2", 1, 5000) == IRIS_OK &&
                 iris_tunnel_send(tunnel, (const uint8_t *)"3", 1, 5000) == IRIS_OK;
        } else {
            ok = iris_tunnel_send(tunnel, msg, len, 0) == IRIS_OK;
        }
        iris_free_bytes(msg);
        if (!ok || burst) break;
    }
    iris_tunnel_close(tunnel);
    iris_tunnel_free(tunnel);
    atomic_fetch_sub(&s->active, 1);
}

static void svc_handle_drop(void *context, int status, const char *reason) {
    service_state *s = context;
    snprintf(s->drop_reason, sizeof s->drop_reason, "%s", reason);
    atomic_store(&s->drop_status, status);
    atomic_fetch_add(&s->handle_drops, 1);
}

static void svc_drop(void *context) {
    service_state *s = context;
    atomic_store(&s->active_at_drop, atomic_load(&s->active));
    atomic_fetch_add(&s->drops, 1);
}

static iris_service_handler echo_handler(service_state *s) {
    iris_service_handler h = {
        .context = s,
        .init = svc_init,
        .handle_request = svc_request,
        .handle_broadcast = svc_broadcast,
        .handle_tunnel = svc_tunnel,
        .handle_drop = svc_handle_drop,
        .drop = svc_drop,
    };
    return h;
}

/* Registers an echo service on `cluster`; the caller ends it with end_service. */
static int start_service(const char *cluster, service_state *s, const iris_service_limits *limits,
                         iris_service **out) {
    iris_service_handler h = echo_handler(s);
    return iris_register(PORT, cluster, &h, limits, out);
}

/* Unregisters and frees a service, then checks its drop ran exactly once. */
static int end_service(iris_service *service, service_state *s) {
    CHECK_OK(iris_service_unregister(service));
    iris_service_free(service);
    WAIT_FOR(atomic_load(&s->drops) == 1, 10 * SECOND);
    CHECK(atomic_load(&s->drops) == 1);
    CHECK(atomic_load(&s->active_at_drop) == 0);
    return 0;
}

static int request_text(const iris_connection *conn, const char *cluster, const char *text, uint64_t timeout,
                        char *out, size_t out_size) {
    uint8_t *reply = NULL;
    size_t len = 0;
    int status = iris_request(conn, cluster, (const uint8_t *)text, strlen(text), timeout, &reply, &len);
    if (status == IRIS_OK) {
        size_t n = len < out_size - 1 ? len : out_size - 1;
        memcpy(out, reply, n);
        out[n] = '\0';
        iris_free_bytes(reply);
    } else if (reply != NULL) {
        return -1000; /* a failed call must not hand out a buffer */
    }
    return status;
}

/* --------------------------------------------------------------------------------------------- */

static int test_status_names(void) {
    static const char *names[] = {"TIMEOUT", "CLOSED", "REMOTE", "INVALID_ARGUMENT", "PROTOCOL", "IO"};
    static const int codes[] = {IRIS_ERR_TIMEOUT, IRIS_ERR_CLOSED, IRIS_ERR_REMOTE, IRIS_ERR_INVALID_ARGUMENT,
                                IRIS_ERR_PROTOCOL, IRIS_ERR_IO};
    for (int i = 0; i < 6; i++) {
        CHECK(codes[i] == -(i + 1));
        CHECK(strcmp(iris_status_name(codes[i]), names[i]) == 0);
    }
    CHECK(strcmp(iris_status_name(IRIS_OK), "OK") == 0);
    CHECK(strcmp(iris_status_name(IRIS_ERR_INTERNAL), "INTERNAL") == 0);
    CHECK(strcmp(iris_status_name(-42), "UNKNOWN") == 0);
    return 0;
}

static int test_default_limits(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    iris_service_limits s = iris_service_limits_default();
    CHECK(s.request_threads == (size_t)(4 * cpus) && s.broadcast_threads == (size_t)(4 * cpus));
    CHECK(s.request_memory == 64u << 20 && s.broadcast_memory == 64u << 20);
    iris_topic_limits t = iris_topic_limits_default();
    CHECK(t.event_threads == (size_t)(4 * cpus) && t.event_memory == 64u << 20);
    return 0;
}

static int test_connect_refused(void) {
    iris_connection *conn = (iris_connection *)1;
    CHECK_STATUS(iris_connect(unused_port(), &conn), IRIS_ERR_IO);
    CHECK(conn == NULL);
    CHECK(strlen(iris_last_error_message()) > 0);
    CHECK(iris_last_error_code() == IRIS_ERR_IO);
    return 0;
}

static int test_invalid_arguments(void) {
    iris_connection *conn = NULL;
    uint8_t *reply = NULL;
    size_t len = 0;
    const uint8_t *x = (const uint8_t *)"x";
    CHECK_STATUS(iris_connect(PORT, NULL), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_request(NULL, "c", x, 1, 100, &reply, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(iris_last_error_message(), "NULL") != NULL);
    CHECK_OK(iris_connect(PORT, &conn));
    CHECK(strcmp(iris_last_error_message(), "") == 0);
    CHECK_STATUS(iris_request(conn, NULL, x, 1, 100, &reply, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_request(conn, "", x, 1, 100, &reply, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_request(conn, "\xff\xfe", x, 1, 100, &reply, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_request(conn, "c", x, 0, 100, &reply, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_request(conn, "c", NULL, 5, 100, &reply, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_request(conn, "c", x, 1, 0, &reply, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_request(conn, "c", x, 1, 100, NULL, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_request(conn, "c", x, 1, 100, &reply, NULL), IRIS_ERR_INVALID_ARGUMENT);
    CHECK(reply == NULL);
    CHECK_STATUS(iris_broadcast(conn, "c", x, 0), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_broadcast(conn, "", x, 1), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_publish(conn, "t", NULL, 0), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_publish(NULL, "t", x, 1), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_subscribe(conn, "t", NULL, NULL), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_unsubscribe(conn, "never-subscribed"), IRIS_ERR_INVALID_ARGUMENT);
    iris_tunnel *tunnel = (iris_tunnel *)1;
    CHECK_STATUS(iris_tunnel_open(conn, "c", 0, &tunnel), IRIS_ERR_INVALID_ARGUMENT);
    CHECK(tunnel == NULL);
    CHECK_STATUS(iris_tunnel_send(NULL, x, 1, 0), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_tunnel_recv(NULL, 0, &reply, &len), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_tunnel_close(NULL), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_connection_close(NULL), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_service_unregister(NULL), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(iris_reply_ok(NULL, x, 1), IRIS_ERR_INVALID_ARGUMENT);
    CHECK(iris_service_connection(NULL) == NULL);
    CHECK(!iris_connection_is_open(NULL));
    /* Freeing NULL is a no-op. */
    iris_connection_free(NULL);
    iris_service_free(NULL);
    iris_tunnel_free(NULL);
    iris_free_bytes(NULL);
    /* A bad registration still runs the handler's drop exactly once, before returning. */
    static service_state s;
    iris_service *service = (iris_service *)1;
    CHECK_STATUS(start_service("", &s, NULL, &service), IRIS_ERR_INVALID_ARGUMENT);
    CHECK(service == NULL && atomic_load(&s.drops) == 1 && atomic_load(&s.init_calls) == 0);
    CHECK_STATUS(iris_register(PORT, "c", NULL, NULL, &service), IRIS_ERR_INVALID_ARGUMENT);
    iris_connection_free(conn);
    return 0;
}

static int test_request_reply(void) {
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-echo", &s, NULL, &service));
    CHECK(atomic_load(&s.init_calls) == 1 && s.conn != NULL);
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    CHECK(iris_connection_is_open(conn));
    CHECK(iris_connection_id(conn) != 0);
    char out[64];
    CHECK_OK(request_text(conn, "c-echo", "hello", 5 * SECOND, out, sizeof out));
    CHECK(strcmp(out, "hello") == 0);
    /* An empty reply is a valid reply, and still a non-NULL buffer. */
    uint8_t *reply = NULL;
    size_t len = 99;
    CHECK_OK(iris_request(conn, "c-echo", (const uint8_t *)"empty", 5, 5 * SECOND, &reply, &len));
    CHECK(reply != NULL && len == 0);
    iris_free_bytes(reply);
    /* Binary payloads travel untouched. */
    uint8_t bin[256];
    for (int i = 0; i < 256; i++) bin[i] = (uint8_t)i;
    CHECK_OK(iris_request(conn, "c-echo", bin, sizeof bin, 5 * SECOND, &reply, &len));
    CHECK(len == sizeof bin && memcmp(reply, bin, len) == 0);
    free(reply); /* malloc'd, so free() works too */
    /* A handler can call iris through the connection init gave it. */
    CHECK_OK(request_text(conn, "c-echo", "nested", 5 * SECOND, out, sizeof out));
    CHECK(strcmp(out, "inner") == 0);
    /* The service's own connection works as a client too. */
    const iris_connection *own = iris_service_connection(service);
    CHECK(own != NULL && iris_connection_is_open(own));
    CHECK_OK(request_text(own, "c-echo", "self", 5 * SECOND, out, sizeof out));
    CHECK(strcmp(out, "self") == 0);
    CHECK(atomic_load(&s.requests_before_init) == 0);
    CHECK(atomic_load(&s.drops) == 0);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static int test_faults(void) {
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-faults", &s, NULL, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    char out[64];
    CHECK_STATUS(request_text(conn, "c-faults", "fail", 5 * SECOND, out, sizeof out), IRIS_ERR_REMOTE);
    CHECK(strcmp(iris_last_error_message(), "refused: fail") == 0);
    CHECK_STATUS(request_text(conn, "c-faults", "noreply", 5 * SECOND, out, sizeof out), IRIS_ERR_REMOTE);
    CHECK(strcmp(iris_last_error_message(), "the request handler gave no reply") == 0);
    /* A service without a request handler answers with a fault. */
    static service_state s2;
    iris_service_handler h = {.context = &s2, .drop = svc_drop};
    iris_service *bare = NULL;
    CHECK_OK(iris_register(PORT, "c-bare", &h, NULL, &bare));
    CHECK_STATUS(request_text(conn, "c-bare", "hi", 5 * SECOND, out, sizeof out), IRIS_ERR_REMOTE);
    CHECK(strlen(iris_last_error_message()) > 0);
    CHECK(end_service(bare, &s2) == 0);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static int test_timeouts(void) {
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    char out[64];
    uint64_t start = now_ms();
    CHECK_STATUS(request_text(conn, "c-nobody", "hi", 300, out, sizeof out), IRIS_ERR_TIMEOUT);
    CHECK(now_ms() - start >= 250);
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-slow", &s, NULL, &service));
    CHECK_STATUS(request_text(conn, "c-slow", "slow", 300, out, sizeof out), IRIS_ERR_TIMEOUT);
    iris_tunnel *tunnel = NULL;
    CHECK_STATUS(iris_tunnel_open(conn, "c-nobody", 300, &tunnel), IRIS_ERR_TIMEOUT);
    CHECK(tunnel == NULL);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static int test_broadcast(void) {
    static service_state a, b;
    iris_service *sa = NULL, *sb = NULL;
    CHECK_OK(start_service("c-bcast", &a, NULL, &sa));
    CHECK_OK(start_service("c-bcast", &b, NULL, &sb));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    CHECK_OK(iris_broadcast(conn, "c-bcast", (const uint8_t *)"to all", 6));
    WAIT_FOR(atomic_load(&a.broadcasts) == 1 && atomic_load(&b.broadcasts) == 1, 5 * SECOND);
    CHECK(atomic_load(&a.broadcasts) == 1 && atomic_load(&b.broadcasts) == 1);
    CHECK(strcmp(a.last_broadcast, "to all") == 0 && strcmp(b.last_broadcast, "to all") == 0);
    iris_connection_free(conn);
    CHECK(end_service(sa, &a) == 0);
    return end_service(sb, &b);
}

typedef struct topic_state {
    pthread_mutex_t lock;
    char events[64][16];
    atomic_int count;
    atomic_int drops;
} topic_state;

static void on_event(void *context, const uint8_t *event, size_t len) {
    topic_state *t = context;
    pthread_mutex_lock(&t->lock);
    int i = atomic_load(&t->count);
    if (i < 64) {
        size_t n = len < 15 ? len : 15;
        memcpy(t->events[i], event, n);
        t->events[i][n] = '\0';
    }
    atomic_fetch_add(&t->count, 1);
    pthread_mutex_unlock(&t->lock);
}

static void on_topic_drop(void *context) {
    topic_state *t = context;
    atomic_fetch_add(&t->drops, 1);
}

static int test_publish_subscribe(void) {
    static topic_state t = {.lock = PTHREAD_MUTEX_INITIALIZER};
    iris_topic_handler h = {.context = &t, .handle_event = on_event, .drop = on_topic_drop};
    iris_topic_limits one = {.event_threads = 1}; /* one thread: events run in FIFO order */
    iris_connection *sub = NULL, *pub = NULL;
    CHECK_OK(iris_connect(PORT, &sub));
    CHECK_OK(iris_connect(PORT, &pub));
    CHECK_OK(iris_subscribe(sub, "c-topic", &h, &one));
    /* A second subscription to the same topic fails and drops its own handler at once. */
    static topic_state t2 = {.lock = PTHREAD_MUTEX_INITIALIZER};
    iris_topic_handler h2 = {.context = &t2, .handle_event = on_event, .drop = on_topic_drop};
    CHECK_STATUS(iris_subscribe(sub, "c-topic", &h2, NULL), IRIS_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&t2.drops) == 1);
    sleep_ms(100);
    for (int i = 0; i < 20; i++) {
        char event[16];
        snprintf(event, sizeof event, "event %d", i);
        CHECK_OK(iris_publish(pub, "c-topic", (const uint8_t *)event, strlen(event)));
    }
    WAIT_FOR(atomic_load(&t.count) == 20, 5 * SECOND);
    CHECK(atomic_load(&t.count) == 20);
    for (int i = 0; i < 20; i++) {
        char event[16];
        snprintf(event, sizeof event, "event %d", i);
        CHECK(strcmp(t.events[i], event) == 0);
    }
    CHECK(atomic_load(&t.drops) == 0);
    CHECK_OK(iris_unsubscribe(sub, "c-topic"));
    WAIT_FOR(atomic_load(&t.drops) == 1, 5 * SECOND);
    CHECK(atomic_load(&t.drops) == 1);
    CHECK_STATUS(iris_unsubscribe(sub, "c-topic"), IRIS_ERR_INVALID_ARGUMENT);
    /* Events after the unsubscribe are not delivered. */
    CHECK_OK(iris_publish(pub, "c-topic", (const uint8_t *)"late", 4));
    sleep_ms(200);
    CHECK(atomic_load(&t.count) == 20);
    /* A subscription still active at close is dropped by the close. */
    static topic_state t3 = {.lock = PTHREAD_MUTEX_INITIALIZER};
    iris_topic_handler h3 = {.context = &t3, .handle_event = on_event, .drop = on_topic_drop};
    CHECK_OK(iris_subscribe(sub, "c-topic-2", &h3, NULL));
    CHECK_OK(iris_connection_close(sub));
    WAIT_FOR(atomic_load(&t3.drops) == 1, 5 * SECOND);
    CHECK(atomic_load(&t3.drops) == 1);
    iris_connection_free(sub);
    iris_connection_free(pub);
    return 0;
}

static int test_tunnel_echo(void) {
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-tunnel", &s, NULL, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    iris_tunnel *tunnel = NULL;
    CHECK_OK(iris_tunnel_open(conn, "c-tunnel", 5 * SECOND, &tunnel));
    for (int i = 0; i < 100; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "message %d", i);
        CHECK_OK(iris_tunnel_send(tunnel, (const uint8_t *)msg, strlen(msg), 5 * SECOND));
    }
    for (int i = 0; i < 100; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "message %d", i);
        uint8_t *got = NULL;
        size_t len = 0;
        CHECK_OK(iris_tunnel_recv(tunnel, 5 * SECOND, &got, &len));
        int same = len == strlen(msg) && memcmp(got, msg, len) == 0;
        iris_free_bytes(got);
        CHECK(same);
    }
    uint8_t *got = NULL;
    size_t len = 0;
    CHECK_STATUS(iris_tunnel_recv(tunnel, 200, &got, &len), IRIS_ERR_TIMEOUT);
    CHECK(got == NULL && len == 0);
    CHECK_STATUS(iris_tunnel_send(tunnel, (const uint8_t *)"x", 0, 0), IRIS_ERR_INVALID_ARGUMENT);
    CHECK_OK(iris_tunnel_close(tunnel));
    CHECK_OK(iris_tunnel_close(tunnel)); /* twice is fine */
    CHECK_STATUS(iris_tunnel_send(tunnel, (const uint8_t *)"x", 1, 0), IRIS_ERR_CLOSED);
    iris_tunnel_free(tunnel);

    /* Messages that arrived before the far end closed are still delivered, then CLOSED. */
    CHECK_OK(iris_tunnel_open(conn, "c-tunnel", 5 * SECOND, &tunnel));
    CHECK_OK(iris_tunnel_send(tunnel, (const uint8_t *)"burst", 5, 5 * SECOND));
    sleep_ms(300); /* let the far end send and close */
    for (int i = 1; i <= 3; i++) {
        CHECK_OK(iris_tunnel_recv(tunnel, 5 * SECOND, &got, &len));
        int same = len == 1 && got[0] == '0' + i;
        iris_free_bytes(got);
        CHECK(same);
    }
    CHECK_STATUS(iris_tunnel_recv(tunnel, 5 * SECOND, &got, &len), IRIS_ERR_CLOSED);
    iris_tunnel_free(tunnel);
    CHECK(atomic_load(&s.tunnels) == 2);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static int test_tunnel_16mib(void) {
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-tunnel-big", &s, NULL, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    iris_tunnel *tunnel = NULL;
    CHECK_OK(iris_tunnel_open(conn, "c-tunnel-big", 5 * SECOND, &tunnel));
    size_t size = 16u << 20;
    uint8_t *big = malloc(size);
    CHECK(big != NULL);
    for (size_t i = 0; i < size; i++) big[i] = (uint8_t)(i * 31 + (i >> 16));
    CHECK_OK(iris_tunnel_send(tunnel, big, size, 0));
    uint8_t *got = NULL;
    size_t len = 0;
    CHECK_OK(iris_tunnel_recv(tunnel, 0, &got, &len));
    int same = len == size && memcmp(got, big, size) == 0;
    iris_free_bytes(got);
    free(big);
    CHECK(same);
    iris_tunnel_free(tunnel);
    iris_connection_free(conn);
    return end_service(service, &s);
}

typedef struct blocked_call {
    const iris_connection *conn;
    iris_tunnel *tunnel;
    atomic_int status;
    atomic_int done;
    uint64_t returned_at;
} blocked_call;

static void *blocked_recv(void *arg) {
    blocked_call *c = arg;
    uint8_t *got = NULL;
    size_t len = 0;
    atomic_store(&c->status, iris_tunnel_recv(c->tunnel, 0, &got, &len));
    iris_free_bytes(got);
    c->returned_at = now_ms();
    atomic_store(&c->done, 1);
    return NULL;
}

static void *blocked_request(void *arg) {
    blocked_call *c = arg;
    uint8_t *got = NULL;
    size_t len = 0;
    atomic_store(&c->status, iris_request(c->conn, "c-close", (const uint8_t *)"slow", 4, 20 * SECOND, &got, &len));
    iris_free_bytes(got);
    c->returned_at = now_ms();
    atomic_store(&c->done, 1);
    return NULL;
}

static void *slow_request_drop_late(void *arg) {
    blocked_call *c = arg;
    uint8_t *got = NULL;
    size_t len = 0;
    atomic_store(&c->status, iris_request(c->conn, "c-drop-late", (const uint8_t *)"slow", 4, 20 * SECOND, &got, &len));
    iris_free_bytes(got);
    atomic_store(&c->done, 1);
    return NULL;
}

static int test_close_from_another_thread(void) {
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-close", &s, NULL, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));

    /* A tunnel receive blocked forever is released by closing the tunnel elsewhere. */
    blocked_call c = {.conn = conn};
    CHECK_OK(iris_tunnel_open(conn, "c-close", 5 * SECOND, &c.tunnel));
    pthread_t thread;
    pthread_create(&thread, NULL, blocked_recv, &c);
    sleep_ms(300);
    CHECK(atomic_load(&c.done) == 0);
    uint64_t closed_at = now_ms();
    CHECK_OK(iris_tunnel_close(c.tunnel));
    pthread_join(thread, NULL);
    CHECK(atomic_load(&c.status) == IRIS_ERR_CLOSED);
    CHECK(c.returned_at - closed_at < 5 * SECOND);
    iris_tunnel_free(c.tunnel);

    /* A request waiting for a slow service is released by closing the connection elsewhere. */
    blocked_call r = {.conn = conn};
    pthread_create(&thread, NULL, blocked_request, &r);
    WAIT_FOR(atomic_load(&s.requests) == 1, 5 * SECOND);
    closed_at = now_ms();
    CHECK_OK(iris_connection_close(conn));
    pthread_join(thread, NULL);
    CHECK(atomic_load(&r.status) == IRIS_ERR_CLOSED);
    CHECK(r.returned_at - closed_at < 5 * SECOND);
    /* Everything on a closed connection fails with CLOSED. */
    CHECK(!iris_connection_is_open(conn));
    char out[16];
    CHECK_STATUS(request_text(conn, "c-close", "hi", SECOND, out, sizeof out), IRIS_ERR_CLOSED);
    CHECK_STATUS(iris_publish(conn, "t", (const uint8_t *)"x", 1), IRIS_ERR_CLOSED);
    CHECK_STATUS(iris_broadcast(conn, "c", (const uint8_t *)"x", 1), IRIS_ERR_CLOSED);
    iris_topic_handler h = {0};
    CHECK_STATUS(iris_subscribe(conn, "t", &h, NULL), IRIS_ERR_CLOSED);
    iris_tunnel *tunnel = NULL;
    CHECK_STATUS(iris_tunnel_open(conn, "c-close", SECOND, &tunnel), IRIS_ERR_CLOSED);
    CHECK_OK(iris_connection_close(conn)); /* twice is fine */
    iris_connection_free(conn);
    return end_service(service, &s);
}

typedef struct load {
    const iris_connection *conn;
    const char *cluster;
    int index;
    int count;
    atomic_int failures;
} load;

static void *request_loop(void *arg) {
    load *l = arg;
    for (int i = 0; i < l->count; i++) {
        char msg[48], out[64];
        snprintf(msg, sizeof msg, "thread %d request %d", l->index, i);
        if (request_text(l->conn, l->cluster, msg, 10 * SECOND, out, sizeof out) != IRIS_OK || strcmp(out, msg) != 0) {
            atomic_fetch_add(&l->failures, 1);
        }
    }
    return NULL;
}

static int run_load(const iris_connection *conn, const char *cluster, int threads, int each) {
    pthread_t ids[16];
    load loads[16];
    for (int t = 0; t < threads; t++) {
        loads[t] = (load){.conn = conn, .cluster = cluster, .index = t, .count = each};
        pthread_create(&ids[t], NULL, request_loop, &loads[t]);
    }
    int failures = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        failures += atomic_load(&loads[t].failures);
    }
    return failures;
}

static int test_concurrent_requests(void) {
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-load", &s, NULL, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    CHECK(run_load(conn, "c-load", 8, 40) == 0);
    CHECK(atomic_load(&s.requests) == 8 * 40);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static int test_thread_limit(void) {
    static service_state s = {.delay_ms = 100};
    iris_service_limits limits = {.request_threads = 2};
    iris_service *service = NULL;
    CHECK_OK(start_service("c-limit", &s, &limits, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    CHECK(run_load(conn, "c-limit", 8, 3) == 0);
    CHECK(atomic_load(&s.peak) == 2);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static int test_memory_limit(void) {
    static service_state s;
    iris_service_limits limits = {.request_memory = 1000};
    iris_service *service = NULL;
    CHECK_OK(start_service("c-memory", &s, &limits, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    /* A request larger than the memory limit is never admitted: its caller times out. */
    uint8_t big[2000];
    memset(big, 'm', sizeof big);
    uint8_t *reply = NULL;
    size_t len = 0;
    CHECK_STATUS(iris_request(conn, "c-memory", big, sizeof big, 500, &reply, &len), IRIS_ERR_TIMEOUT);
    CHECK(atomic_load(&s.requests) == 0);
    CHECK_OK(iris_request(conn, "c-memory", big, 1000, 5 * SECOND, &reply, &len));
    CHECK(len == 1000);
    iris_free_bytes(reply);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static int test_init_failure(void) {
    static service_state s;
    atomic_store(&s.init_result, 7);
    iris_service *service = (iris_service *)1;
    CHECK_STATUS(start_service("c-init-fails", &s, NULL, &service), IRIS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(iris_last_error_message(), "init returned 7") != NULL);
    CHECK(service == NULL);
    CHECK(atomic_load(&s.init_calls) == 1 && atomic_load(&s.drops) == 1);
    /* The failed member left the cluster. */
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    char out[16];
    CHECK_STATUS(request_text(conn, "c-init-fails", "hi", 300, out, sizeof out), IRIS_ERR_TIMEOUT);
    iris_connection_free(conn);
    return 0;
}

static int test_node_drops_service(void) {
    test_node node = {0};
    CHECK(node_start(&node) == 0);
    static service_state s;
    iris_service_handler h = echo_handler(&s);
    iris_service *service = NULL;
    CHECK_OK(iris_register(node.port, "c-dropped", &h, NULL, &service));
    node_stop(&node, 1);
    WAIT_FOR(atomic_load(&s.handle_drops) == 1, 10 * SECOND);
    CHECK(atomic_load(&s.handle_drops) == 1);
    CHECK(atomic_load(&s.drop_status) == IRIS_ERR_CLOSED);
    CHECK(strlen(s.drop_reason) > 0);
    CHECK(!iris_connection_is_open(iris_service_connection(service)));
    char out[16];
    CHECK_STATUS(request_text(iris_service_connection(service), "x", "hi", 300, out, sizeof out), IRIS_ERR_CLOSED);
    iris_service_unregister(service);
    iris_service_free(service);
    WAIT_FOR(atomic_load(&s.drops) == 1, 5 * SECOND);
    CHECK(atomic_load(&s.drops) == 1 && atomic_load(&s.handle_drops) == 1);
    return 0;
}

/* A fake node: answers the handshake, never reads again, then resets the connection. Writing to
   the dead socket must surface as an error code, never as a SIGPIPE that kills the program. */
typedef struct fake_node {
    int listener;
    uint16_t port;
    atomic_int release;
} fake_node;

static void put_string(uint8_t **p, const char *s) {
    size_t n = strlen(s);
    *(*p)++ = (uint8_t)n; /* short strings: one-octet varint */
    memcpy(*p, s, n);
    *p += n;
}

static void *fake_node_run(void *arg) {
    fake_node *f = arg;
    int fd = accept(f->listener, NULL, NULL);
    if (fd < 0) return NULL;
    uint8_t buf[256];
    (void)!read(fd, buf, sizeof buf); /* the client's INIT */
    uint8_t answer[64], *p = answer;
    *p++ = 0x00;
    put_string(&p, "iris-relay-magic");
    put_string(&p, "v1.0-draft2");
    (void)!write(fd, answer, (size_t)(p - answer));
    while (!atomic_load(&f->release)) sleep_ms(10);
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(fd);
    return NULL;
}

static int test_sigpipe_cannot_kill(void) {
    struct sigaction before;
    sigaction(SIGPIPE, NULL, &before);
    CHECK(before.sa_handler == SIG_DFL); /* a C program's default: SIGPIPE would kill it */
    fake_node f = {0};
    f.listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    CHECK(bind(f.listener, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(f.listener, 1) == 0);
    getsockname(f.listener, (struct sockaddr *)&addr, &alen);
    f.port = ntohs(addr.sin_port);
    pthread_t thread;
    pthread_create(&thread, NULL, fake_node_run, &f);
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(f.port, &conn));
    /* Fill the socket buffers (the fake node does not read), then reset the connection while
       more data waits to be written, and keep writing. */
    size_t size = 256 * 1024;
    uint8_t *event = calloc(1, size);
    for (int i = 0; i < 16; i++) iris_publish(conn, "t", event, size);
    atomic_store(&f.release, 1);
    pthread_join(thread, NULL);
    int status = IRIS_OK;
    uint64_t until = now_ms() + 5 * SECOND;
    while (status == IRIS_OK && now_ms() < until) status = iris_publish(conn, "t", event, size);
    free(event);
    CHECK(status == IRIS_ERR_CLOSED || status == IRIS_ERR_IO);
    /* Still alive, and the program's SIGPIPE disposition is untouched. */
    struct sigaction after;
    sigaction(SIGPIPE, NULL, &after);
    CHECK(after.sa_handler == SIG_DFL);
    iris_connection_free(conn);
    close(f.listener);
    return 0;
}

static int test_request_expires_in_queue(void) {
    /* One handler thread busy with a slow request: a second request whose timeout passes while it
       waits in the queue is dropped without running; its caller times out. */
    static service_state s = {.delay_ms = 1500};
    iris_service_limits limits = {.request_threads = 1};
    iris_service *service = NULL;
    CHECK_OK(start_service("c-expiry", &s, &limits, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    load slow = {.conn = conn, .cluster = "c-expiry", .count = 1};
    pthread_t thread;
    pthread_create(&thread, NULL, request_loop, &slow);
    WAIT_FOR(atomic_load(&s.requests) == 1, 5 * SECOND);
    char out[16];
    CHECK_STATUS(request_text(conn, "c-expiry", "short", 300, out, sizeof out), IRIS_ERR_TIMEOUT);
    pthread_join(thread, NULL);
    CHECK(atomic_load(&slow.failures) == 0);
    sleep_ms(200);
    CHECK(atomic_load(&s.requests) == 1);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static int test_close_inside_handler(void) {
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-self-close", &s, NULL, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    char out[16];
    /* The reply may or may not make it out before the close; the handler must return either way. */
    int status = request_text(conn, "c-self-close", "close", 3 * SECOND, out, sizeof out);
    CHECK(status == IRIS_OK || status == IRIS_ERR_TIMEOUT);
    WAIT_FOR(!iris_connection_is_open(iris_service_connection(service)), 5 * SECOND);
    CHECK(atomic_load(&s.init_result) == IRIS_OK); /* the close called inside the handler */
    CHECK(!iris_connection_is_open(iris_service_connection(service)));
    uint64_t start = now_ms();
    CHECK(end_service(service, &s) == 0);
    CHECK(now_ms() - start < 10 * SECOND);
    iris_connection_free(conn);
    return 0;
}

static int test_fork_child(void) {
    /* A forked child gets a clear CLOSED from the parent's handles (never a hang), and can
       connect afresh. */
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        uint8_t *reply = NULL;
        size_t len = 0;
        iris_connection *fresh = NULL;
        int code = 0;
        if (iris_request(conn, "c-echo", (const uint8_t *)"x", 1, SECOND, &reply, &len) != IRIS_ERR_CLOSED) code = 10;
        else if (iris_publish(conn, "t", (const uint8_t *)"x", 1) != IRIS_ERR_CLOSED) code = 11;
        else if (iris_connect(PORT, &fresh) != IRIS_OK) code = 12;
        else if (iris_publish(fresh, "t", (const uint8_t *)"x", 1) != IRIS_OK) code = 13;
        else if (iris_connection_close(fresh) != IRIS_OK) code = 14;
        /* Report through exec: the child deliberately abandons the parent's runtime (its threads do
           not exist here), which a leak checker following this process would count. */
        char command[16];
        snprintf(command, sizeof command, "exit %d", code);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    int wstatus = 0;
    uint64_t until = now_ms() + 20 * SECOND;
    while (waitpid(pid, &wstatus, WNOHANG) == 0 && now_ms() < until) sleep_ms(10);
    if (now_ms() >= until) {
        kill(pid, SIGKILL);
        waitpid(pid, &wstatus, 0);
    }
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    /* The parent's connection is unaffected. */
    CHECK(iris_connection_is_open(conn));
    CHECK_OK(iris_publish(conn, "t", (const uint8_t *)"x", 1));
    iris_connection_free(conn);
    return 0;
}

static int test_broadcast_thread_limit_keeps_order(void) {
    /* One broadcast thread: broadcasts run one at a time, in arrival order. */
    static service_state s;
    iris_service_limits limits = {.broadcast_threads = 1};
    iris_service *service = NULL;
    CHECK_OK(start_service("c-bcast-order", &s, &limits, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    const char *letters = "abcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 26; i++) CHECK_OK(iris_broadcast(conn, "c-bcast-order", (const uint8_t *)letters + i, 1));
    WAIT_FOR(atomic_load(&s.broadcasts) == 26, 5 * SECOND);
    CHECK(atomic_load(&s.broadcasts) == 26);
    CHECK(memcmp(s.broadcast_order, letters, 26) == 0);
    iris_connection_free(conn);
    return end_service(service, &s);
}

static void *fake_node_deny(void *arg) {
    fake_node *f = arg;
    int fd = accept(f->listener, NULL, NULL);
    if (fd < 0) return NULL;
    uint8_t buf[256];
    (void)!read(fd, buf, sizeof buf);
    uint8_t answer[64], *p = answer;
    *p++ = 0x01; /* DENY */
    put_string(&p, "iris-relay-magic");
    put_string(&p, "version mismatch");
    (void)!write(fd, answer, (size_t)(p - answer));
    close(fd);
    return NULL;
}

static int test_handshake_denied(void) {
    /* A node that refuses the handshake gives PROTOCOL with its reason. */
    fake_node f = {0};
    f.listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    CHECK(bind(f.listener, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(f.listener, 1) == 0);
    getsockname(f.listener, (struct sockaddr *)&addr, &alen);
    pthread_t thread;
    pthread_create(&thread, NULL, fake_node_deny, &f);
    iris_connection *conn = (iris_connection *)1;
    int status = iris_connect(ntohs(addr.sin_port), &conn);
    pthread_join(thread, NULL);
    close(f.listener);
    CHECK_STATUS(status, IRIS_ERR_PROTOCOL);
    CHECK(conn == NULL);
    CHECK(strstr(iris_last_error_message(), "version mismatch") != NULL);
    return 0;
}

static int test_drop_waits_for_running_handlers(void) {
    /* Releasing a service while a request handler runs: drop comes only after it returned. */
    static service_state s;
    iris_service *service = NULL;
    CHECK_OK(start_service("c-drop-late", &s, NULL, &service));
    iris_connection *conn = NULL;
    CHECK_OK(iris_connect(PORT, &conn));
    blocked_call r = {.conn = conn};
    pthread_t thread;
    /* blocked_request sends "slow" to c-close; use a dedicated copy of it for this cluster. */
    pthread_create(&thread, NULL, slow_request_drop_late, &r);
    WAIT_FOR(atomic_load(&s.active) == 1, 5 * SECOND);
    CHECK(atomic_load(&s.active) == 1);
    iris_service_free(service); /* unregisters in the background */
    sleep_ms(500);
    CHECK(atomic_load(&s.drops) == 0); /* the handler is still sleeping */
    WAIT_FOR(atomic_load(&s.drops) == 1, 10 * SECOND);
    CHECK(atomic_load(&s.drops) == 1 && atomic_load(&s.active_at_drop) == 0);
    pthread_join(thread, NULL);
    iris_connection_free(conn);
    return 0;
}

static const test_case TESTS[] = {
    {"status_names", test_status_names},
    {"default_limits", test_default_limits},
    {"connect_refused", test_connect_refused},
    {"invalid_arguments", test_invalid_arguments},
    {"request_reply", test_request_reply},
    {"faults", test_faults},
    {"timeouts", test_timeouts},
    {"broadcast", test_broadcast},
    {"broadcast_thread_limit_keeps_order", test_broadcast_thread_limit_keeps_order},
    {"publish_subscribe", test_publish_subscribe},
    {"tunnel_echo", test_tunnel_echo},
    {"tunnel_16mib", test_tunnel_16mib},
    {"close_from_another_thread", test_close_from_another_thread},
    {"concurrent_requests", test_concurrent_requests},
    {"thread_limit", test_thread_limit},
    {"memory_limit", test_memory_limit},
    {"request_expires_in_queue", test_request_expires_in_queue},
    {"close_inside_handler", test_close_inside_handler},
    {"init_failure", test_init_failure},
    {"drop_waits_for_running_handlers", test_drop_waits_for_running_handlers},
    {"node_drops_service", test_node_drops_service},
    {"sigpipe_cannot_kill", test_sigpipe_cannot_kill},
    {"fork_child", test_fork_child},
    {"handshake_denied", test_handshake_denied},
};

int main(int argc, char **argv) {
    if (node_start(&g_node) != 0) return 2;
    int rc = run_tests(TESTS, sizeof TESTS / sizeof TESTS[0], argc, argv);
    node_stop(&g_node, 0);
    return rc;
}
