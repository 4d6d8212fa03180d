package cross;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The node and the Rust peer program (`iris-peer`) these tests run beside the Java code. */
final class Peers {
    private Peers() {}

    static Path repo() {
        return Path.of(System.getProperty("iris.repo", "../../..")).toAbsolutePath().normalize();
    }

    static String bin(String name) {
        String env = name.equals("iris") ? System.getenv("IRIS_BIN") : null;
        return env != null && !env.isEmpty() ? env : repo().resolve("target/debug/" + name).toString();
    }

    /** A running process whose first stdout line we waited for. */
    static class Running implements AutoCloseable {
        final Process process;
        final BufferedReader out;

        Running(Process process) {
            this.process = process;
            this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        }

        String line() throws IOException {
            return out.readLine();
        }

        @Override
        public void close() throws Exception {
            process.getOutputStream().close();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroy();
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            }
        }
    }

    /** `iris --dev --port 0`; returns it with its port. */
    static Running node(int[] port) throws IOException {
        Process p = new ProcessBuilder(bin("iris"), "--dev", "--port", "0")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        Running node = new Running(p) {
            @Override
            public void close() throws Exception {
                process.destroy();
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            }
        };
        String prefix = "iris relay listening on port ";
        String line;
        while ((line = node.line()) != null) {
            if (line.startsWith(prefix)) {
                port[0] = Integer.parseInt(line.substring(prefix.length()).trim());
                Thread drain = new Thread(() -> {
                    try {
                        while (node.line() != null) {
                            // keep the pipe from filling
                        }
                    } catch (IOException ignored) {
                        // ended
                    }
                });
                drain.setDaemon(true);
                drain.start();
                return node;
            }
        }
        throw new IOException("the iris node exited before listening");
    }

    /** `iris-peer serve PORT CLUSTER PREFIX`, once it printed `ready`. */
    static Running serve(int port, String cluster, String prefix) throws IOException {
        Process p = new ProcessBuilder(bin("iris-peer"), "serve", Integer.toString(port), cluster, prefix)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Running peer = new Running(p);
        String line = peer.line();
        if (!"ready".equals(line)) {
            throw new IOException("iris-peer serve said " + line);
        }
        return peer;
    }

    /** Result of a one-shot `iris-peer` command. */
    record Outcome(int exit, String stdout, String stderr) {}

    static Outcome once(String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(bin("iris-peer"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).start();
        p.getOutputStream().close();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("iris-peer " + String.join(" ", args) + " did not finish");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        return new Outcome(p.exitValue(), out, err);
    }
}
