package io.iris;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's quickstart, compiled and run in a JVM of its own; and a JVM exiting with open services. */
class QuickstartTest {
    static Path readme() {
        return Path.of(System.getProperty("iris.test.readme", "README.md"));
    }

    /** The first ```java block after the "## Quickstart" heading. */
    static String quickstartSource() throws IOException {
        String text = Files.readString(readme());
        int section = text.indexOf("\n## Quickstart");
        assertTrue(section >= 0, "README has a Quickstart section");
        int start = text.indexOf("```java\n", section);
        int end = text.indexOf("\n```", start + 8);
        return text.substring(start + "```java\n".length(), end + 1);
    }

    static void compile(Path dir, Path source) {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "a JDK compiler");
        String classes = System.getProperty("iris.test.classes", "target/classes");
        int status = javac.run(null, null, null, "-cp", classes, "-d", dir.toString(), source.toString());
        assertEquals(0, status, "compiles");
    }

    /** Runs {@code main} in a fresh JVM; returns its output, failing if it does not exit in time. */
    static String run(Path dir, String mainClass, List<String> args, int port) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("iris.test.classes", "target/classes") + File.pathSeparator + dir;
        List<String> command = new java.util.ArrayList<>(List.of(java, "-Diris.port=" + port, "-cp", cp, mainClass));
        command.addAll(args);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        boolean exited = process.waitFor(60, TimeUnit.SECONDS);
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!exited) {
            process.destroyForcibly();
            fail(mainClass + " did not exit: " + output);
        }
        assertEquals(0, process.exitValue(), output);
        return output;
    }

    @Test
    void theReadmeQuickstartRuns(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("Quickstart.java");
        Files.writeString(source, quickstartSource());
        compile(dir, source);
        String output = run(dir, "Quickstart", List.of(), TestNode.port());
        assertTrue(output.contains("reply: hi"), output);
        assertTrue(output.contains("event: iris is up"), output);
        assertTrue(output.contains("tunnel: ping"), output);
    }

    @Test
    void theConsumerProjectRunsTheSameQuickstart() throws Exception {
        Path copy = TestNode.repo().resolve("tests/cross/java/src/main/java/Quickstart.java");
        assertEquals(quickstartSource(), Files.readString(copy), copy + " must match the README's quickstart");
    }

    @Test
    void aJvmWithOpenServicesExitsWhenMainEnds(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("OpenService.java");
        Files.writeString(source, String.join("\n",
                "import io.iris.*;",
                "import java.time.Duration;",
                "public class OpenService {",
                "  public static void main(String[] args) {",
                "    int port = Integer.getInteger(\"iris.port\");",
                "    Service service = Iris.register(port, args[0], new ServiceHandler() {",
                "      @Override public byte[] handleRequest(byte[] r) { return r; }",
                "      @Override public void handleBroadcast(byte[] m) { }",
                "    });",
                "    Connection conn = Iris.connect(port);",
                "    conn.subscribe(args[0], event -> { });",
                "    conn.broadcast(args[0], \"b\".getBytes());",
                "    conn.publish(args[0], \"e\".getBytes());",
                "    System.out.println(\"reply \" + new String(conn.request(args[0], \"x\".getBytes(), Duration.ofSeconds(5))));",
                "  }",
                "}", ""));
        compile(dir, source);
        String output = run(dir, "OpenService", List.of(TestNode.unique("open")), TestNode.port());
        assertTrue(output.contains("reply x"), output);
    }
}
