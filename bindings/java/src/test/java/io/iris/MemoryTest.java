package io.iris;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * 100,000 requests through a Java service and back: heap and native memory stay flat, which a leak
 * of one JNI local or global reference per call (each pinning a 1 KiB array) would not allow.
 */
class MemoryTest {
    static final int PAYLOAD = 1024;
    static final int WARMUP = 20_000;
    static final int REQUESTS = 100_000;
    static final int THREADS = 8;
    /** A leak of one 1 KiB array per request would add about 100 MiB; allow a fraction of that. */
    static final long HEAP_SLACK = 24L << 20;
    static final long RSS_SLACK = 48L << 20;

    static long heapUsed() throws InterruptedException {
        Runtime rt = Runtime.getRuntime();
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
            best = Math.min(best, rt.totalMemory() - rt.freeMemory());
        }
        return best;
    }

    static long rss() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }

    static void run(Connection conn, String cluster, int count) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                done.add(pool.submit(() -> {
                    byte[] payload = new byte[PAYLOAD];
                    for (int i = 0; i < count / THREADS; i++) {
                        payload[0] = (byte) i;
                        byte[] reply = conn.request(cluster, payload, Duration.ofSeconds(30));
                        if (reply.length != PAYLOAD || reply[0] != (byte) i) {
                            throw new AssertionError("wrong reply");
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(300, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void openingAndClosingKeepsMemoryFlat() throws Exception {
        String cluster = TestNode.unique("churn");
        try (Service service = Iris.register(TestNode.port(), cluster, TunnelTest.ECHO)) {
            churn(cluster, 200);
            long heapBefore = heapUsed();
            long rssBefore = rss();
            churn(cluster, 1000);
            long heapAfter = heapUsed();
            long rssAfter = rss();
            System.out.printf("churn: heap %d -> %d KiB, rss %d -> %d KiB%n", heapBefore >> 10, heapAfter >> 10,
                    rssBefore >> 10, rssAfter >> 10);
            assertTrue(heapAfter - heapBefore < HEAP_SLACK, "heap grew from " + heapBefore + " to " + heapAfter);
            assertTrue(rssAfter - rssBefore < RSS_SLACK, "RSS grew from " + rssBefore + " to " + rssAfter);
        }
    }

    /** Opens and closes connections, tunnels and subscriptions {@code rounds} times. */
    static void churn(String cluster, int rounds) {
        for (int i = 0; i < rounds; i++) {
            try (Connection conn = Iris.connect(TestNode.port())) {
                conn.subscribe(cluster + "-topic", event -> {});
                try (Tunnel tunnel = conn.tunnel(cluster, Duration.ofSeconds(10))) {
                    tunnel.send(new byte[PAYLOAD], Duration.ofSeconds(10));
                    tunnel.receive(Duration.ofSeconds(10));
                }
            }
        }
    }

    @Test
    void hundredThousandRequestsKeepMemoryFlat() throws Exception {
        String cluster = TestNode.unique("memory");
        ServiceHandler echo = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) {
                return request;
            }
        };
        try (Service service = Iris.register(TestNode.port(), cluster, echo, new ServiceLimits().requestThreads(4));
                Connection conn = Iris.connect(TestNode.port())) {
            run(conn, cluster, WARMUP);
            long heapBefore = heapUsed();
            long rssBefore = rss();
            run(conn, cluster, REQUESTS);
            long heapAfter = heapUsed();
            long rssAfter = rss();
            System.out.printf("heap %d -> %d KiB, rss %d -> %d KiB%n", heapBefore >> 10, heapAfter >> 10,
                    rssBefore >> 10, rssAfter >> 10);
            assertTrue(heapAfter - heapBefore < HEAP_SLACK,
                    "heap grew from " + heapBefore + " to " + heapAfter + " over " + REQUESTS + " requests");
            assertTrue(rssAfter - rssBefore < RSS_SLACK,
                    "RSS grew from " + rssBefore + " to " + rssAfter + " over " + REQUESTS + " requests");
        }
    }
}
