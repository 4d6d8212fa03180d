package io.iris;

import static io.iris.PatternsTest.b;
import static io.iris.PatternsTest.s;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Many Java threads using connections, services and tunnels at once. */
class ConcurrencyTest {
    static final Duration LONG = Duration.ofSeconds(30);

    @Test
    void manyThreadsShareOneConnection() throws Exception {
        String cluster = TestNode.unique("shared");
        int threads = 16;
        int perThread = 300;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (Service a = Iris.register(TestNode.port(), cluster, new PatternsTest.Echo("="));
                Service b = Iris.register(TestNode.port(), cluster, new PatternsTest.Echo("="));
                Connection conn = Iris.connect(TestNode.port())) {
            List<Future<Integer>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                results.add(pool.submit(() -> {
                    int ok = 0;
                    for (int i = 0; i < perThread; i++) {
                        String payload = id + "/" + i;
                        assertEquals("=" + payload, s(conn.request(cluster, b(payload), LONG)));
                        ok++;
                    }
                    return ok;
                }));
            }
            int total = 0;
            for (Future<Integer> f : results) {
                total += f.get(120, TimeUnit.SECONDS);
            }
            assertEquals(threads * perThread, total);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void threadsWithTheirOwnConnectionsAndTunnels() throws Exception {
        String cluster = TestNode.unique("own");
        AtomicInteger broadcasts = new AtomicInteger();
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) {
                return request;
            }

            @Override
            public void handleBroadcast(byte[] message) {
                broadcasts.incrementAndGet();
            }

            @Override
            public void handleTunnel(Tunnel tunnel) {
                TunnelTest.ECHO.handleTunnelUnchecked(tunnel);
            }
        };
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (Service service = Iris.register(TestNode.port(), cluster, handler)) {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                done.add(pool.submit(() -> {
                    try (Connection conn = Iris.connect(TestNode.port()); Tunnel tunnel = conn.tunnel(cluster, LONG)) {
                        for (int i = 0; i < 100; i++) {
                            byte[] m = b(id + ":" + i);
                            assertArrayEquals(m, conn.request(cluster, m, LONG));
                            tunnel.send(m, LONG);
                            assertArrayEquals(m, tunnel.receive(LONG));
                            conn.broadcast(cluster, m);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(120, TimeUnit.SECONDS);
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (broadcasts.get() < threads * 100 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(threads * 100, broadcasts.get(), "every broadcast handled once");
        } finally {
            pool.shutdownNow();
        }
    }
}
