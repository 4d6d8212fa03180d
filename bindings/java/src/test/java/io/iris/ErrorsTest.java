package io.iris;

import static io.iris.PatternsTest.b;
import static org.junit.jupiter.api.Assertions.*;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Error mapping, faults, timeouts, argument checks, closing, and native panics. */
class ErrorsTest {
    static final Duration LONG = Duration.ofSeconds(10);

    @Test
    void everyCoreErrorKindMapsToItsException() {
        String[] codes = Native.errorCodes();
        Set<String> seen = new HashSet<>(Arrays.asList(codes));
        assertEquals(ErrorKind.values().length, codes.length, "the core and ErrorKind list the same kinds");
        for (ErrorKind kind : ErrorKind.values()) {
            assertTrue(seen.contains(kind.code()), "the core has no kind " + kind);
        }
        for (String code : codes) {
            ErrorKind kind = ErrorKind.fromCode(code);
            assertNotNull(kind, "no Java ErrorKind for the core's code " + code);
            RuntimeException thrown = assertThrows(RuntimeException.class, () -> Native.throwCoreError(code));
            Class<? extends RuntimeException> expected = switch (kind) {
                case TIMEOUT -> TimeoutException.class;
                case CLOSED -> ClosedException.class;
                case REMOTE -> RemoteException.class;
                case INVALID_ARGUMENT -> InvalidArgumentException.class;
                case PROTOCOL -> ProtocolException.class;
                case IO -> IoException.class;
            };
            assertEquals(expected, thrown.getClass(), code);
            assertEquals("test " + code, thrown.getMessage());
            if (thrown instanceof IrisException e) {
                assertEquals(code, e.code());
                assertEquals(kind, e.kind());
            } else {
                assertEquals(code, ((InvalidArgumentException) thrown).code());
            }
        }
        assertEquals(1, ErrorKind.TIMEOUT.number());
        assertEquals(6, ErrorKind.IO.number());
    }

    @Test
    void aNativePanicBecomesAnException() {
        IrisException e = assertThrows(IrisException.class, Native::panicForTest);
        assertEquals("INTERNAL", e.code());
        assertTrue(e.getMessage().contains("deliberate test panic"), e.getMessage());
        // The library keeps working afterwards.
        assertThrows(TimeoutException.class, () -> Native.throwCoreError("TIMEOUT"));
    }

    @Test
    void aThrowingHandlerSendsItsMessageAsTheFault() {
        String cluster = TestNode.unique("faulty");
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) throws Exception {
                if (request[0] == 'n') {
                    throw new IllegalStateException();
                }
                throw new Exception("no such thing: " + new String(request));
            }
        };
        try (Service service = Iris.register(TestNode.port(), cluster, handler);
                Connection conn = Iris.connect(TestNode.port())) {
            RemoteException e = assertThrows(RemoteException.class, () -> conn.request(cluster, b("widget"), LONG));
            assertEquals("no such thing: widget", e.getMessage());
            assertEquals("REMOTE", e.code());
            RemoteException n = assertThrows(RemoteException.class, () -> conn.request(cluster, b("null"), LONG));
            assertEquals("java.lang.IllegalStateException", n.getMessage());
        }
    }

    @Test
    void theDefaultRequestHandlerFaults() {
        String cluster = TestNode.unique("default");
        try (Service service = Iris.register(TestNode.port(), cluster, new ServiceHandler() {});
                Connection conn = Iris.connect(TestNode.port())) {
            RemoteException e = assertThrows(RemoteException.class, () -> conn.request(cluster, b("x"), LONG));
            assertTrue(e.getMessage().contains("does not handle requests"), e.getMessage());
        }
    }

    @Test
    void requestToAnEmptyClusterTimesOut() {
        try (Connection conn = Iris.connect(TestNode.port())) {
            long start = System.nanoTime();
            TimeoutException e = assertThrows(TimeoutException.class,
                    () -> conn.request(TestNode.unique("nobody"), b("x"), Duration.ofMillis(200)));
            assertEquals("TIMEOUT", e.code());
            assertTrue(System.nanoTime() - start >= Duration.ofMillis(150).toNanos(), "waited for the timeout");
        }
    }

    @Test
    void slowHandlerTimesOut() {
        String cluster = TestNode.unique("slow");
        CountDownLatch release = new CountDownLatch(1);
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) throws Exception {
                release.await(10, TimeUnit.SECONDS);
                return request;
            }
        };
        try (Service service = Iris.register(TestNode.port(), cluster, handler);
                Connection conn = Iris.connect(TestNode.port())) {
            assertThrows(TimeoutException.class, () -> conn.request(cluster, b("x"), Duration.ofMillis(200)));
            release.countDown();
        }
    }

    @Test
    void tunnelToAnEmptyClusterTimesOut() {
        try (Connection conn = Iris.connect(TestNode.port())) {
            assertThrows(TimeoutException.class, () -> conn.tunnel(TestNode.unique("nobody"), Duration.ofMillis(200)));
        }
    }

    @Test
    void badArgumentsAreIllegalArgumentExceptions() {
        try (Connection conn = Iris.connect(TestNode.port())) {
            assertThrows(IllegalArgumentException.class, () -> conn.request("", b("x"), LONG));
            assertThrows(IllegalArgumentException.class, () -> conn.request("c", new byte[0], LONG));
            assertThrows(IllegalArgumentException.class, () -> conn.request("c", b("x"), Duration.ofNanos(999_999)));
            assertThrows(IllegalArgumentException.class, () -> conn.request("c", b("x"), Duration.ofMillis(-5)));
            assertThrows(IllegalArgumentException.class, () -> conn.broadcast("", b("x")));
            assertThrows(IllegalArgumentException.class, () -> conn.broadcast("c", new byte[0]));
            assertThrows(IllegalArgumentException.class, () -> conn.publish("", b("x")));
            assertThrows(IllegalArgumentException.class, () -> conn.publish("t", new byte[0]));
            assertThrows(IllegalArgumentException.class, () -> conn.subscribe("", event -> {}));
            assertThrows(IllegalArgumentException.class, () -> conn.tunnel("", LONG));
            assertThrows(IllegalArgumentException.class, () -> conn.tunnel("c", Duration.ZERO));
            assertThrows(IllegalArgumentException.class, () -> Iris.register(TestNode.port(), "", new ServiceHandler() {}));
            assertThrows(IllegalArgumentException.class, () -> Iris.connect(0));
            assertThrows(IllegalArgumentException.class, () -> Iris.connect(70000));
            assertThrows(IllegalArgumentException.class, () -> new ServiceLimits().requestThreads(-1));
            assertThrows(IllegalArgumentException.class, () -> new TopicLimits().eventMemory(-1));
            assertThrows(NullPointerException.class, () -> conn.request(null, b("x"), LONG));
            assertThrows(NullPointerException.class, () -> conn.request("c", null, LONG));

            String topic = TestNode.unique("dup");
            conn.subscribe(topic, event -> {});
            InvalidArgumentException dup = assertThrows(InvalidArgumentException.class, () -> conn.subscribe(topic, event -> {}));
            assertEquals("INVALID_ARGUMENT", dup.code());
            conn.unsubscribe(topic);
            assertThrows(InvalidArgumentException.class, () -> conn.unsubscribe(topic));
            assertTrue(conn.isOpen(), "argument errors do not close the connection");
        }
    }

    @Test
    void noNodeIsAnIoError() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        IoException e = assertThrows(IoException.class, () -> Iris.connect(port));
        assertEquals("IO", e.code());
    }

    @Test
    void everyOperationFailsAfterClose() {
        Connection conn = Iris.connect(TestNode.port());
        conn.close();
        conn.close();
        assertFalse(conn.isOpen());
        assertThrows(ClosedException.class, () -> conn.request("c", b("x"), LONG));
        assertThrows(ClosedException.class, () -> conn.broadcast("c", b("x")));
        assertThrows(ClosedException.class, () -> conn.publish("t", b("x")));
        assertThrows(ClosedException.class, () -> conn.subscribe("t", e -> {}));
        assertThrows(ClosedException.class, () -> conn.tunnel("c", LONG));
    }

    @Test
    void closeReleasesBlockedCalls() throws Exception {
        String cluster = TestNode.unique("blocked");
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) throws Exception {
                entered.countDown();
                release.await(20, TimeUnit.SECONDS);
                return request;
            }

            @Override
            public void handleTunnel(Tunnel tunnel) throws Exception {
                release.await(20, TimeUnit.SECONDS);
            }
        };
        ExecutorService pool = Executors.newCachedThreadPool();
        try (Service service = Iris.register(TestNode.port(), cluster, handler)) {
            Connection conn = Iris.connect(TestNode.port());
            Future<byte[]> pending = pool.submit(() -> conn.request(cluster, b("x"), Duration.ofSeconds(30)));
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            Tunnel tunnel = conn.tunnel(cluster, LONG);
            Future<byte[]> receiving = pool.submit(() -> tunnel.receive());
            Thread.sleep(100);
            long start = System.nanoTime();
            conn.close();
            Exception e = assertThrows(Exception.class, () -> pending.get(20, TimeUnit.SECONDS));
            assertInstanceOf(ClosedException.class, e.getCause());
            Exception r = assertThrows(Exception.class, () -> receiving.get(20, TimeUnit.SECONDS));
            assertInstanceOf(ClosedException.class, r.getCause());
            assertTrue(System.nanoTime() - start < Duration.ofSeconds(15).toNanos());
            release.countDown();
        } finally {
            release.countDown();
            pool.shutdownNow();
        }
    }

    @Test
    void interruptingABlockedCallAbandonsIt() throws Exception {
        try (Connection conn = Iris.connect(TestNode.port())) {
            Thread caller = Thread.currentThread();
            Thread interrupter = new Thread(() -> {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ignored) {
                    return;
                }
                caller.interrupt();
            });
            interrupter.start();
            long start = System.nanoTime();
            InterruptedIrisException e = assertThrows(InterruptedIrisException.class,
                    () -> conn.request(TestNode.unique("nobody"), b("x"), Duration.ofSeconds(30)));
            assertEquals("INTERRUPTED", e.code());
            assertTrue(Thread.interrupted(), "the interrupt flag stays set");
            assertTrue(System.nanoTime() - start < Duration.ofSeconds(10).toNanos());
            interrupter.join();
            assertTrue(conn.isOpen());
        }
    }

    @Test
    void aDroppedServiceHearsWhyAndCallsFailClosed() throws Exception {
        TestNode own = TestNode.start();
        java.util.concurrent.BlockingQueue<IrisException> reasons = new java.util.concurrent.LinkedBlockingQueue<>();
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public void handleDrop(IrisException reason) {
                reasons.add(reason);
            }
        };
        Service service = Iris.register(own.port, TestNode.unique("dropped"), handler);
        Connection conn = Iris.connect(own.port);
        try {
            own.stop();
            IrisException reason = reasons.poll(20, TimeUnit.SECONDS);
            assertNotNull(reason, "handleDrop was called");
            assertNotNull(reason.code());
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (conn.isOpen() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertFalse(conn.isOpen());
            IrisException after = assertThrows(IrisException.class, () -> conn.request("c", b("x"), LONG));
            assertTrue(after instanceof ClosedException || after instanceof IoException, after.toString());
        } finally {
            conn.close();
            service.close();
            own.stop();
        }
    }

    @Test
    void serviceCloseIsIdempotentAndTheClusterEmpties() {
        String cluster = TestNode.unique("leaving");
        Service service = Iris.register(TestNode.port(), cluster, new PatternsTest.Echo(""));
        try (Connection conn = Iris.connect(TestNode.port())) {
            assertArrayEquals(b("x"), conn.request(cluster, b("x"), LONG));
            service.close();
            service.unregister();
            assertFalse(service.connection().isOpen());
            assertThrows(TimeoutException.class, () -> conn.request(cluster, b("x"), Duration.ofMillis(300)));
        }
    }
}
