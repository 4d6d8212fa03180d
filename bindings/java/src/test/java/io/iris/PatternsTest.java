package io.iris;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The four messaging patterns, end to end through a real node. */
class PatternsTest {
    static final Duration SECOND = Duration.ofSeconds(1);
    static final Duration LONG = Duration.ofSeconds(10);

    static byte[] b(String s) {
        return s.getBytes(UTF_8);
    }

    static String s(byte[] b) {
        return new String(b, UTF_8);
    }

    static class Echo implements ServiceHandler {
        final String prefix;

        Echo(String prefix) {
            this.prefix = prefix;
        }

        @Override
        public byte[] handleRequest(byte[] request) {
            return b(prefix + s(request));
        }
    }

    @Test
    void requestReply() {
        String cluster = TestNode.unique("echo");
        try (Service service = Iris.register(TestNode.port(), cluster, new Echo("re:"));
                Connection conn = Iris.connect(TestNode.port())) {
            assertArrayEquals(b("re:hi"), conn.request(cluster, b("hi"), LONG));
            assertTrue(conn.isOpen());
            assertTrue(conn.id() > 0);
        }
    }

    @Test
    void nullReplyIsEmptyReply() {
        String cluster = TestNode.unique("null");
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) {
                return null;
            }
        };
        try (Service service = Iris.register(TestNode.port(), cluster, handler);
                Connection conn = Iris.connect(TestNode.port())) {
            assertArrayEquals(new byte[0], conn.request(cluster, b("x"), LONG));
        }
    }

    @Test
    void anUnreferencedServiceStaysRegistered() throws Exception {
        String cluster = TestNode.unique("kept");
        Iris.register(TestNode.port(), cluster, new Echo("kept:"));
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        try (Connection conn = Iris.connect(TestNode.port())) {
            assertArrayEquals(b("kept:x"), conn.request(cluster, b("x"), LONG));
            Service again = Iris.register(TestNode.port(), cluster, new Echo("kept:"));
            again.close();
        }
    }

    @Test
    void requestsAreLoadBalancedAcrossMembers() {
        String cluster = TestNode.unique("balanced");
        try (Service a = Iris.register(TestNode.port(), cluster, new Echo("a"));
                Service b = Iris.register(TestNode.port(), cluster, new Echo("b"));
                Connection conn = Iris.connect(TestNode.port())) {
            Set<String> seen = ConcurrentHashMap.newKeySet();
            for (int i = 0; i < 200 && seen.size() < 2; i++) {
                seen.add(s(conn.request(cluster, b("x"), LONG)).substring(0, 1));
            }
            assertEquals(Set.of("a", "b"), seen);
        }
    }

    @Test
    void initRunsFirstWithAUsableConnection() throws Exception {
        String cluster = TestNode.unique("init");
        String other = TestNode.unique("other");
        AtomicReference<String> initReply = new AtomicReference<>();
        try (Service echo = Iris.register(TestNode.port(), other, new Echo("o:"))) {
            ServiceHandler handler = new ServiceHandler() {
                volatile Connection own;

                @Override
                public void init(Connection connection) {
                    own = connection;
                    initReply.set(s(connection.request(other, b("from-init"), LONG)));
                }

                @Override
                public byte[] handleRequest(byte[] request) {
                    // The init connection stays usable from handlers.
                    return own.request(other, request, LONG);
                }
            };
            try (Service service = Iris.register(TestNode.port(), cluster, handler);
                    Connection conn = Iris.connect(TestNode.port())) {
                assertEquals("o:from-init", initReply.get());
                assertArrayEquals(b("o:nested"), conn.request(cluster, b("nested"), LONG));
                assertTrue(service.connection().isOpen());
            }
        }
    }

    @Test
    void failingInitAbortsTheRegistration() {
        String cluster = TestNode.unique("badinit");
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public void init(Connection connection) {
                throw new IllegalStateException("not today");
            }
        };
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> Iris.register(TestNode.port(), cluster, handler));
        assertTrue(e.getMessage().contains("not today"), e.getMessage());
    }

    @Test
    void broadcastReachesEveryMember() throws Exception {
        String cluster = TestNode.unique("bcast");
        BlockingQueue<String> got = new LinkedBlockingQueue<>();
        class Listener implements ServiceHandler {
            final String name;

            Listener(String name) {
                this.name = name;
            }

            @Override
            public void handleBroadcast(byte[] message) {
                got.add(name + ":" + s(message));
            }
        }
        try (Service a = Iris.register(TestNode.port(), cluster, new Listener("a"));
                Service b = Iris.register(TestNode.port(), cluster, new Listener("b"));
                Connection conn = Iris.connect(TestNode.port())) {
            conn.broadcast(cluster, b("hello"));
            Set<String> seen = ConcurrentHashMap.newKeySet();
            for (int i = 0; i < 2; i++) {
                String m = got.poll(10, TimeUnit.SECONDS);
                assertNotNull(m, "broadcast not delivered to every member");
                seen.add(m);
            }
            assertEquals(Set.of("a:hello", "b:hello"), seen);
        }
    }

    @Test
    void publishSubscribeUnsubscribe() throws Exception {
        String topic = TestNode.unique("news");
        BlockingQueue<String> got = new LinkedBlockingQueue<>();
        try (Connection sub = Iris.connect(TestNode.port()); Connection pub = Iris.connect(TestNode.port())) {
            sub.subscribe(topic, event -> got.add(s(event)), new TopicLimits().eventThreads(1));
            Thread.sleep(100);
            for (int i = 0; i < 5; i++) {
                pub.publish(topic, b("e" + i));
            }
            for (int i = 0; i < 5; i++) {
                assertEquals("e" + i, got.poll(10, TimeUnit.SECONDS), "events arrive in order with one thread");
            }
            sub.unsubscribe(topic);
            Thread.sleep(100);
            pub.publish(topic, b("late"));
            assertNull(got.poll(300, TimeUnit.MILLISECONDS), "no events after unsubscribe");
        }
    }

    @Test
    void tunnelBothWays() throws Exception {
        String cluster = TestNode.unique("tun");
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public void handleTunnel(Tunnel tunnel) {
                while (true) {
                    byte[] m;
                    try {
                        m = tunnel.receive(LONG);
                    } catch (ClosedException e) {
                        return;
                    }
                    tunnel.send(b("echo:" + s(m)), LONG);
                }
            }
        };
        try (Service service = Iris.register(TestNode.port(), cluster, handler);
                Connection conn = Iris.connect(TestNode.port());
                Tunnel tunnel = conn.tunnel(cluster, LONG)) {
            for (int i = 0; i < 50; i++) {
                tunnel.send(b("m" + i), LONG);
            }
            for (int i = 0; i < 50; i++) {
                assertEquals("echo:m" + i, s(tunnel.receive(LONG)));
            }
            assertTrue(tunnel.id() >= 0);
        }
    }

    @Test
    void closeFromInsideAHandlerDoesNotDeadlock() throws Exception {
        String cluster = TestNode.unique("selfclose");
        CountDownLatch closed = new CountDownLatch(1);
        AtomicReference<Service> ref = new AtomicReference<>();
        ServiceHandler handler = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) {
                ref.get().close();
                closed.countDown();
                return b("bye");
            }
        };
        Service service = Iris.register(TestNode.port(), cluster, handler);
        ref.set(service);
        try (Connection conn = Iris.connect(TestNode.port())) {
            try {
                conn.request(cluster, b("x"), Duration.ofSeconds(3));
            } catch (TimeoutException | ClosedException ignored) {
                // whether the reply makes it out while closing is the core's business
            }
            assertTrue(closed.await(10, TimeUnit.SECONDS));
        }
        service.close();
    }
}
