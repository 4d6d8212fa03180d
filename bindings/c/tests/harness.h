/* A tiny test harness for the libiris C tests: a node fixture, checks, and a runner. */
#ifndef IRIS_TEST_HARNESS_H
#define IRIS_TEST_HARNESS_H

#include <iris.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* A running iris node started by the tests. */
typedef struct test_node {
    pid_t pid;
    uint16_t port;
    FILE *out; /* the node's stdout, kept open so it never gets SIGPIPE */
} test_node;

/* Starts `$IRIS_BIN --dev --port 0` (default: <repo>/target/debug/iris) and waits for its port.
   Returns 0 on success. */
int node_start(test_node *node);
/* Kills the node (SIGKILL if `hard`, else SIGTERM) and reaps it. */
void node_stop(test_node *node, int hard);

/* Milliseconds on a monotonic clock. */
uint64_t now_ms(void);
void sleep_ms(unsigned ms);
/* A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
uint16_t unused_port(void);

/* Checks: on failure print where and why, and make the test function return 1. */
#define CHECK(cond)                                                                                   \
    do {                                                                                              \
        if (!(cond)) {                                                                                \
            fprintf(stderr, "    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
            return 1;                                                                                 \
        }                                                                                             \
    } while (0)

/* Checks that an iris call returned `expected`, printing the status and message otherwise. */
#define CHECK_STATUS(call, expected)                                                                  \
    do {                                                                                              \
        int status_ = (call);                                                                         \
        if (status_ != (expected)) {                                                                  \
            fprintf(stderr, "    %s:%d: %s returned %s (%d) \"%s\", expected %s\n", __FILE__, __LINE__, \
                    #call, iris_status_name(status_), status_, iris_last_error_message(),             \
                    iris_status_name(expected));                                                      \
            return 1;                                                                                 \
        }                                                                                             \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, IRIS_OK)

/* Waits up to `ms` for `cond` to hold. */
#define WAIT_FOR(cond, ms)                                                                            \
    do {                                                                                              \
        uint64_t until_ = now_ms() + (ms);                                                            \
        while (!(cond) && now_ms() < until_) sleep_ms(5);                                             \
    } while (0)

typedef struct test_case {
    const char *name;
    int (*run)(void);
} test_case;

/* Runs the tests named on the command line (all if none), prints one line per test and the
   summary "N passed, M failed"; returns the process exit code. */
int run_tests(const test_case *tests, size_t count, int argc, char **argv);

#endif
