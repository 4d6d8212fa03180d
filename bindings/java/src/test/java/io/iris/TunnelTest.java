package io.iris;

import static io.iris.PatternsTest.b;
import static io.iris.PatternsTest.s;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Tunnels: big messages, ordering, timeouts, close semantics. */
class TunnelTest {
    static final Duration LONG = Duration.ofSeconds(30);

    /** A service whose tunnels echo every message back until the client closes. */
    static final class EchoTunnels implements ServiceHandler {
        @Override
        public void handleTunnel(Tunnel tunnel) {
            handleTunnelUnchecked(tunnel);
        }

        void handleTunnelUnchecked(Tunnel tunnel) {
            while (true) {
                byte[] m;
                try {
                    m = tunnel.receive();
                } catch (ClosedException e) {
                    return;
                }
                tunnel.send(m, LONG);
            }
        }
    }

    static final EchoTunnels ECHO = new EchoTunnels();

    @Test
    void aSixteenMebibyteMessageTravelsIntact() {
        String cluster = TestNode.unique("big");
        byte[] big = new byte[16 * 1024 * 1024];
        new Random(42).nextBytes(big);
        try (Service service = Iris.register(TestNode.port(), cluster, ECHO);
                Connection conn = Iris.connect(TestNode.port());
                Tunnel tunnel = conn.tunnel(cluster, LONG)) {
            tunnel.send(big, LONG);
            byte[] back = tunnel.receive(LONG);
            assertArrayEquals(big, back);
        }
    }

    @Test
    void manyMessagesStayInOrder() throws Exception {
        String cluster = TestNode.unique("order");
        try (Service service = Iris.register(TestNode.port(), cluster, ECHO);
                Connection conn = Iris.connect(TestNode.port());
                Tunnel tunnel = conn.tunnel(cluster, LONG)) {
            Thread writer = new Thread(() -> {
                for (int i = 0; i < 2000; i++) {
                    tunnel.send(b(Integer.toString(i)), LONG);
                }
            });
            writer.start();
            for (int i = 0; i < 2000; i++) {
                assertEquals(Integer.toString(i), s(tunnel.receive(LONG)));
            }
            writer.join(30_000);
        }
    }

    @Test
    void receiveTimesOutWhenNothingComes() {
        String cluster = TestNode.unique("quiet");
        try (Service service = Iris.register(TestNode.port(), cluster, ECHO);
                Connection conn = Iris.connect(TestNode.port());
                Tunnel tunnel = conn.tunnel(cluster, LONG)) {
            assertThrows(TimeoutException.class, () -> tunnel.receive(Duration.ofMillis(200)));
            assertThrows(IllegalArgumentException.class, () -> tunnel.send(new byte[0]));
            tunnel.send(b("still works"), LONG);
            assertEquals("still works", s(tunnel.receive(LONG)));
        }
    }

    @Test
    void bufferedMessagesSurviveTheRemoteCloseThenClosed() throws Exception {
        String cluster = TestNode.unique("farewell");
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public void handleTunnel(Tunnel tunnel) {
                tunnel.send(b("one"), LONG);
                tunnel.send(b("two"), LONG);
                // returning closes the tunnel
            }
        };
        try (Service service = Iris.register(TestNode.port(), cluster, handler);
                Connection conn = Iris.connect(TestNode.port());
                Tunnel tunnel = conn.tunnel(cluster, LONG)) {
            Thread.sleep(500);
            assertEquals("one", s(tunnel.receive(LONG)));
            assertEquals("two", s(tunnel.receive(LONG)));
            assertThrows(ClosedException.class, () -> tunnel.receive(LONG));
            assertThrows(ClosedException.class, () -> tunnel.send(b("x"), LONG));
        }
    }

    @Test
    void localCloseEndsBothSides() throws Exception {
        String cluster = TestNode.unique("closing");
        CountDownLatch serverSawClose = new CountDownLatch(1);
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public void handleTunnel(Tunnel tunnel) {
                try {
                    tunnel.receive(LONG);
                } catch (ClosedException e) {
                    serverSawClose.countDown();
                }
            }
        };
        try (Service service = Iris.register(TestNode.port(), cluster, handler);
                Connection conn = Iris.connect(TestNode.port())) {
            Tunnel tunnel = conn.tunnel(cluster, LONG);
            tunnel.close();
            tunnel.close();
            assertThrows(ClosedException.class, () -> tunnel.send(b("x"), LONG));
            assertTrue(serverSawClose.await(10, TimeUnit.SECONDS), "the service side saw the close");
        }
    }
}
