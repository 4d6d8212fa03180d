package cross;

import static org.junit.jupiter.api.Assertions.*;

import io.iris.*;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Java and Rust (iris-peer) on one node: each serves the other, requests and tunnels. */
class CrossLanguageTest {
    static final Duration LONG = Duration.ofSeconds(10);
    static Peers.Running node;
    static int port;

    @BeforeAll
    static void startNode() throws Exception {
        int[] p = new int[1];
        node = Peers.node(p);
        port = p[0];
    }

    @AfterAll
    static void stopNode() throws Exception {
        node.close();
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    @Test
    void aRustServiceAnswersAJavaClient() throws Exception {
        try (Peers.Running peer = Peers.serve(port, "rust-echo", "rust:");
                Connection conn = Iris.connect(port)) {
            assertEquals("rust:hello", s(conn.request("rust-echo", b("hello"), LONG)));
            RemoteException fault = assertThrows(RemoteException.class, () -> conn.request("rust-echo", b("fail"), LONG));
            assertEquals("rust peer refuses", fault.getMessage());
            try (Tunnel tunnel = conn.tunnel("rust-echo", LONG)) {
                tunnel.send(b("through"), LONG);
                assertEquals("rust:through", s(tunnel.receive(LONG)));
            }
        }
    }

    @Test
    void aJavaServiceAnswersARustClient() throws Exception {
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) {
                if (s(request).equals("fail")) {
                    throw new IllegalStateException("java service refuses");
                }
                return b("java:" + s(request));
            }

            @Override
            public void handleTunnel(Tunnel tunnel) {
                tunnel.send(b("java:" + s(tunnel.receive(LONG))), LONG);
            }
        };
        try (Service service = Iris.register(port, "java-echo", handler)) {
            Peers.Outcome reply = Peers.once("request", Integer.toString(port), "java-echo", "hello");
            assertEquals(0, reply.exit(), reply.stderr());
            assertEquals("java:hello", reply.stdout());

            Peers.Outcome fault = Peers.once("request", Integer.toString(port), "java-echo", "fail");
            assertEquals(1, fault.exit());
            assertTrue(fault.stderr().contains("REMOTE: java service refuses"), fault.stderr());

            Peers.Outcome tunnel = Peers.once("tunnel", Integer.toString(port), "java-echo", "through");
            assertEquals(0, tunnel.exit(), tunnel.stderr());
            assertEquals("java:through", tunnel.stdout());
        }
    }
}
