/* An echo service and a client of it, in one program.
   Build: cc echo.c $(pkg-config --cflags --libs iris) -o echo
   Run:   ./echo [PORT]   (a node must be listening: iris --dev --port PORT) */
#include <iris.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs on an iris handler thread for every request; the reply is copied by iris_reply_ok. */
static void echo(void *context, const uint8_t *request, size_t len, iris_reply *reply) {
    (void)context;
    iris_reply_ok(reply, request, len);
}

int main(int argc, char **argv) {
    uint16_t port = (uint16_t)(argc > 1 ? atoi(argv[1]) : 55555);

    iris_service_handler handler = {.handle_request = echo};
    iris_service *service = NULL;
    if (iris_register(port, "echo", &handler, NULL, &service) != IRIS_OK) {
        fprintf(stderr, "register: %s\n", iris_last_error_message());
        return 1;
    }

    iris_connection *conn = NULL;
    if (iris_connect(port, &conn) != IRIS_OK) {
        fprintf(stderr, "connect: %s\n", iris_last_error_message());
        iris_service_free(service);
        return 1;
    }

    uint8_t *reply = NULL;
    size_t reply_len = 0;
    int status = iris_request(conn, "echo", (const uint8_t *)"hello", 5, 1000, &reply, &reply_len);
    if (status == IRIS_OK) {
        printf("%.*s\n", (int)reply_len, (const char *)reply);
        iris_free_bytes(reply); /* replies belong to the caller */
    } else {
        fprintf(stderr, "request: %s: %s\n", iris_status_name(status), iris_last_error_message());
    }

    iris_connection_close(conn);
    iris_connection_free(conn);
    iris_service_unregister(service);
    iris_service_free(service);
    return status == IRIS_OK ? 0 : 1;
}
