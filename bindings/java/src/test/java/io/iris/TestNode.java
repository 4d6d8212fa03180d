package io.iris;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One {@code iris --dev --port 0} node shared by every test of the JVM, started on first use and
 * killed at exit. The binary is {@code $IRIS_BIN}, else {@code <repo>/target/debug/iris}.
 */
final class TestNode {
    private static TestNode shared;
    private static final AtomicInteger NAMES = new AtomicInteger();

    final Process process;
    final int port;

    private TestNode(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    static Path repo() {
        return Path.of(System.getProperty("iris.repo", "../..")).toAbsolutePath().normalize();
    }

    static Path binary(String name) {
        if (name.equals("iris")) {
            String env = System.getenv("IRIS_BIN");
            if (env != null && !env.isEmpty()) {
                return Path.of(env);
            }
        }
        return repo().resolve("target/debug/" + name);
    }

    /** The shared node's port. */
    static synchronized int port() {
        if (shared == null) {
            shared = start();
            TestNode node = shared;
            Runtime.getRuntime().addShutdownHook(new Thread(node::stop));
        }
        return shared.port;
    }

    /** A cluster or topic name no other test uses. */
    static String unique(String prefix) {
        return prefix + "-" + ProcessHandle.current().pid() + "-" + NAMES.incrementAndGet();
    }

    static TestNode start() {
        Path bin = binary("iris");
        if (!Files.isExecutable(bin)) {
            throw new IllegalStateException("no iris node binary at " + bin + " (run cargo build --workspace)");
        }
        try {
            Process process = new ProcessBuilder(bin.toString(), "--dev", "--port", "0")
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            String prefix = "iris relay listening on port ";
            String line;
            while ((line = out.readLine()) != null) {
                if (line.startsWith(prefix)) {
                    int port = Integer.parseInt(line.substring(prefix.length()).trim());
                    Thread drain = new Thread(() -> {
                        try {
                            while (out.readLine() != null) {
                                // keep the pipe from filling
                            }
                        } catch (IOException ignored) {
                            // the node ended
                        }
                    }, "iris-node-stdout");
                    drain.setDaemon(true);
                    drain.start();
                    return new TestNode(process, port);
                }
            }
            process.destroyForcibly();
            throw new IllegalStateException("the iris node exited before listening");
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the iris node: " + e, e);
        }
    }

    void stop() {
        process.destroy();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
