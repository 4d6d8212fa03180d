package io.iris;

import static io.iris.PatternsTest.b;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The core's limits as a Java user sees them: threads, memory, request expiry; daemon handler threads. */
class LimitsTest {
    static final Duration LONG = Duration.ofSeconds(20);

    /** Counts concurrent calls and remembers the peak. */
    static final class Gauge {
        final AtomicInteger now = new AtomicInteger();
        final AtomicInteger peak = new AtomicInteger();

        void enter() {
            peak.accumulateAndGet(now.incrementAndGet(), Math::max);
        }

        void exit() {
            now.decrementAndGet();
        }
    }

    @Test
    void requestThreadsBoundConcurrency() throws Exception {
        String cluster = TestNode.unique("threads");
        Gauge gauge = new Gauge();
        List<Boolean> daemons = new ArrayList<>();
        List<String> names = new ArrayList<>();
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) throws Exception {
                gauge.enter();
                synchronized (daemons) {
                    daemons.add(Thread.currentThread().isDaemon());
                    names.add(Thread.currentThread().getName());
                }
                Thread.sleep(50);
                gauge.exit();
                return request;
            }
        };
        ExecutorService pool = Executors.newFixedThreadPool(12);
        try (Service service = Iris.register(TestNode.port(), cluster, handler, new ServiceLimits().requestThreads(2));
                Connection conn = Iris.connect(TestNode.port())) {
            List<Future<byte[]>> replies = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                byte[] payload = b("r" + i);
                replies.add(pool.submit(() -> conn.request(cluster, payload, LONG)));
            }
            for (int i = 0; i < 12; i++) {
                assertArrayEquals(b("r" + i), replies.get(i).get(30, TimeUnit.SECONDS));
            }
            assertEquals(2, gauge.peak.get(), "at most requestThreads handlers run at once");
            synchronized (daemons) {
                assertFalse(daemons.contains(false), "handlers run on daemon threads");
                assertTrue(names.stream().allMatch(n -> n.equals("iris-request")), names.toString());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void eventThreadsBoundConcurrency() throws Exception {
        String topic = TestNode.unique("events");
        Gauge gauge = new Gauge();
        CountDownLatch all = new CountDownLatch(10);
        try (Connection sub = Iris.connect(TestNode.port()); Connection pub = Iris.connect(TestNode.port())) {
            sub.subscribe(topic, event -> {
                gauge.enter();
                Thread.sleep(30);
                gauge.exit();
                all.countDown();
            }, new TopicLimits().eventThreads(3));
            Thread.sleep(100);
            for (int i = 0; i < 10; i++) {
                pub.publish(topic, b("e" + i));
            }
            assertTrue(all.await(20, TimeUnit.SECONDS), "every event handled");
            assertTrue(gauge.peak.get() <= 3, "peak " + gauge.peak.get());
        }
    }

    @Test
    void aRequestLargerThanTheMemoryLimitIsDropped() {
        String cluster = TestNode.unique("memory");
        AtomicInteger handled = new AtomicInteger();
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) {
                handled.incrementAndGet();
                return b("ok");
            }
        };
        try (Service service = Iris.register(TestNode.port(), cluster, handler, new ServiceLimits().requestMemory(100));
                Connection conn = Iris.connect(TestNode.port())) {
            assertArrayEquals(b("ok"), conn.request(cluster, new byte[100], LONG), "a request of exactly the limit fits");
            assertThrows(TimeoutException.class, () -> conn.request(cluster, new byte[101], Duration.ofMillis(500)));
            assertEquals(1, handled.get(), "the oversized request never reached the handler");
        }
    }

    @Test
    void requestsExpiredInTheQueueNeverRun() throws Exception {
        String cluster = TestNode.unique("expiry");
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger ran = new AtomicInteger();
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) throws Exception {
                ran.incrementAndGet();
                if (request[0] == 'b') {
                    release.await(20, TimeUnit.SECONDS);
                }
                return request;
            }
        };
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try (Service service = Iris.register(TestNode.port(), cluster, handler, new ServiceLimits().requestThreads(1));
                Connection conn = Iris.connect(TestNode.port())) {
            Future<byte[]> blocker = pool.submit(() -> conn.request(cluster, b("block"), LONG));
            while (ran.get() == 0) {
                Thread.sleep(10);
            }
            // Queued behind the blocker; their 200 ms pass before the only thread is free.
            List<Future<?>> expired = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                expired.add(pool.submit(() -> assertThrows(TimeoutException.class,
                        () -> conn.request(cluster, b("short"), Duration.ofMillis(200)))));
            }
            for (Future<?> f : expired) {
                f.get(20, TimeUnit.SECONDS);
            }
            // The service's own deadline starts when the request reaches it, a little after the
            // node's: give it time to pass too before the worker is freed.
            Thread.sleep(500);
            release.countDown();
            assertArrayEquals(b("block"), blocker.get(20, TimeUnit.SECONDS));
            assertArrayEquals(b("after"), conn.request(cluster, b("after"), LONG));
            assertEquals(2, ran.get(), "only the blocker and the later request ran");
        } finally {
            release.countDown();
            pool.shutdownNow();
        }
    }

    @Test
    void limitsDefaultToZero() {
        ServiceLimits limits = new ServiceLimits();
        assertEquals(0, limits.requestThreads());
        assertEquals(0, limits.broadcastMemory());
        limits.requestThreads(4).requestMemory(1024).broadcastThreads(2).broadcastMemory(2048);
        assertEquals(4, limits.requestThreads());
        assertEquals(1024, limits.requestMemory());
        assertEquals(2, limits.broadcastThreads());
        assertEquals(2048, limits.broadcastMemory());
        TopicLimits topic = new TopicLimits().eventThreads(1).eventMemory(10);
        assertEquals(1, topic.eventThreads());
        assertEquals(10, topic.eventMemory());
    }
}
