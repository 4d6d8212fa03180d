#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef IRIS_DEFAULT_BIN
#define IRIS_DEFAULT_BIN "target/debug/iris"
#endif

int node_start(test_node *node) {
    const char *bin = getenv("IRIS_BIN");
    if (bin == NULL || *bin == '\0') bin = IRIS_DEFAULT_BIN;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
    const char *log = getenv("IRIS_NODE_LOG");
    posix_spawn_file_actions_addopen(&actions, 2, log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    char *argv[] = {(char *)bin, "--dev", "--port", "0", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipefd[1]);
    if (rc != 0) {
        fprintf(stderr, "cannot start the iris node %s: %s\n", bin, strerror(rc));
        close(pipefd[0]);
        return -1;
    }
    node->pid = pid;
    node->out = fdopen(pipefd[0], "r");
    char line[256];
    unsigned port = 0;
    while (fgets(line, sizeof line, node->out) != NULL) {
        if (sscanf(line, "iris relay listening on port %u", &port) == 1) break;
    }
    if (port == 0 || port > 65535) {
        fprintf(stderr, "the iris node did not report its port\n");
        node_stop(node, 1);
        return -1;
    }
    node->port = (uint16_t)port;
    return 0;
}

void node_stop(test_node *node, int hard) {
    if (node->pid > 0) {
        kill(node->pid, hard ? SIGKILL : SIGTERM);
        waitpid(node->pid, NULL, 0);
        node->pid = 0;
    }
    if (node->out != NULL) {
        fclose(node->out);
        node->out = NULL;
    }
}

uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

uint16_t unused_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    bind(fd, (struct sockaddr *)&addr, sizeof addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    close(fd);
    return ntohs(addr.sin_port);
}

int run_tests(const test_case *tests, size_t count, int argc, char **argv) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        int selected = argc <= 1;
        for (int a = 1; a < argc; a++) {
            if (strcmp(argv[a], tests[i].name) == 0) selected = 1;
        }
        if (!selected) continue;
        uint64_t start = now_ms();
        int result = tests[i].run();
        printf("%s %s (%llu ms)\n", result == 0 ? "ok  " : "FAIL", tests[i].name,
               (unsigned long long)(now_ms() - start));
        fflush(stdout);
        if (result == 0) passed++;
        else failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
