package cross;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The README quickstart, built in this separate project against the installed io.iris:iris jar. */
class QuickstartTest {
    @Test
    void quickstartRunsAgainstTheInstalledArtifact() throws Exception {
        int[] port = new int[1];
        try (Peers.Running node = Peers.node(port)) {
            PrintStream original = System.out;
            ByteArrayOutputStream captured = new ByteArrayOutputStream();
            System.setProperty("iris.port", Integer.toString(port[0]));
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            try {
                // Quickstart lives in the unnamed package (it is the README's file verbatim).
                Class.forName("Quickstart").getMethod("main", String[].class).invoke(null, (Object) new String[0]);
            } finally {
                System.setOut(original);
                System.clearProperty("iris.port");
            }
            String output = captured.toString(StandardCharsets.UTF_8);
            assertTrue(output.contains("reply: hi"), output);
            assertTrue(output.contains("event: iris is up"), output);
            assertTrue(output.contains("tunnel: ping"), output);
            // The jar carried the native library: io.iris loaded it from there.
            assertTrue(io.iris.Iris.class.getProtectionDomain().getCodeSource().getLocation().getPath().endsWith(".jar"));
        }
    }
}
