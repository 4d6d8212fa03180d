/* c-peer: the C counterpart of iris-peer for the cross-language tests.

     c-peer serve   PORT CLUSTER PREFIX   echo service: request -> PREFIX+request, request "fail"
                                          -> fault "c peer refuses", tunnel messages echoed with
                                          PREFIX; prints "ready", runs until stdin closes
     c-peer request PORT CLUSTER PAYLOAD  prints the reply; on error "CODE: message" on stderr, exit 1
     c-peer tunnel  PORT CLUSTER PAYLOAD  sends PAYLOAD through a tunnel, prints the answer */
#include <iris.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 5000

static int fail(int status) {
    fprintf(stderr, "%s: %s\n", iris_status_name(status), iris_last_error_message());
    return 1;
}

static uint8_t *prefixed(const char *prefix, const uint8_t *data, size_t len, size_t *out_len) {
    size_t p = strlen(prefix);
    uint8_t *out = malloc(p + len);
    memcpy(out, prefix, p);
    memcpy(out + p, data, len);
    *out_len = p + len;
    return out;
}

static void on_request(void *context, const uint8_t *req, size_t len, iris_reply *reply) {
    if (len == 4 && memcmp(req, "fail", 4) == 0) {
        iris_reply_fault(reply, "c peer refuses");
        return;
    }
    size_t n;
    uint8_t *answer = prefixed(context, req, len, &n);
    iris_reply_ok(reply, answer, n);
    free(answer);
}

static void on_tunnel(void *context, iris_tunnel *tunnel) {
    uint8_t *msg;
    size_t len;
    while (iris_tunnel_recv(tunnel, 0, &msg, &len) == IRIS_OK) {
        size_t n;
        uint8_t *answer = prefixed(context, msg, len, &n);
        int status = iris_tunnel_send(tunnel, answer, n, TIMEOUT_MS);
        free(answer);
        iris_free_bytes(msg);
        if (status != IRIS_OK) break;
    }
    iris_tunnel_free(tunnel);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: c-peer serve|request|tunnel PORT CLUSTER PREFIX|PAYLOAD\n");
        return 2;
    }
    uint16_t port = (uint16_t)atoi(argv[2]);
    const char *cluster = argv[3], *arg = argv[4];
    int status;
    if (strcmp(argv[1], "serve") == 0) {
        iris_service_handler handler = {.context = (void *)arg, .handle_request = on_request, .handle_tunnel = on_tunnel};
        iris_service *service;
        if ((status = iris_register(port, cluster, &handler, NULL, &service)) != IRIS_OK) return fail(status);
        printf("ready\n");
        fflush(stdout);
        while (getchar() != EOF) {
        }
        status = iris_service_unregister(service);
        iris_service_free(service);
        return status == IRIS_OK ? 0 : fail(status);
    }
    iris_connection *conn;
    if ((status = iris_connect(port, &conn)) != IRIS_OK) return fail(status);
    uint8_t *answer = NULL;
    size_t len = 0;
    if (strcmp(argv[1], "request") == 0) {
        status = iris_request(conn, cluster, (const uint8_t *)arg, strlen(arg), TIMEOUT_MS, &answer, &len);
    } else if (strcmp(argv[1], "tunnel") == 0) {
        iris_tunnel *tunnel;
        status = iris_tunnel_open(conn, cluster, TIMEOUT_MS, &tunnel);
        if (status == IRIS_OK) {
            status = iris_tunnel_send(tunnel, (const uint8_t *)arg, strlen(arg), TIMEOUT_MS);
            if (status == IRIS_OK) status = iris_tunnel_recv(tunnel, TIMEOUT_MS, &answer, &len);
            if (status == IRIS_OK) status = iris_tunnel_close(tunnel);
            else iris_tunnel_close(tunnel);
            iris_tunnel_free(tunnel);
        }
    } else {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        iris_connection_free(conn);
        return 2;
    }
    if (status == IRIS_OK) {
        printf("%.*s\n", (int)len, (const char *)answer);
        iris_free_bytes(answer);
    } else {
        fail(status);
    }
    iris_connection_close(conn);
    iris_connection_free(conn);
    return status == IRIS_OK ? 0 : 1;
}
