import io.iris.Connection;
import io.iris.Iris;
import io.iris.Service;
import io.iris.ServiceHandler;
import io.iris.ServiceLimits;
import io.iris.TopicLimits;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Benchmark of the Java binding (run by run.sh, which starts the node): request round-trip latency
 * (1 in flight), request throughput (128 in flight: 128 threads with one blocking request each)
 * and publish throughput to one subscriber, all with 1-byte messages.
 */
public class Bench {
    static final byte[] ONE = {'x'};
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 5;
        ServiceHandler echo = new ServiceHandler() {
            @Override
            public byte[] handleRequest(byte[] request) {
                return request;
            }
        };
        try (Service service = Iris.register(port, "bench", echo, new ServiceLimits());
                Connection conn = Iris.connect(port)) {
            latency(conn, seconds);
            throughput(conn, seconds);
            publish(port, seconds);
        }
    }

    static void latency(Connection conn, double seconds) {
        for (int i = 0; i < 2000; i++) {
            conn.request("bench", ONE, TIMEOUT);
        }
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long[] samples = new long[1 << 22];
        int n = 0;
        while (System.nanoTime() < end && n < samples.length) {
            long t0 = System.nanoTime();
            conn.request("bench", ONE, TIMEOUT);
            samples[n++] = System.nanoTime() - t0;
        }
        long[] s = Arrays.copyOf(samples, n);
        Arrays.sort(s);
        double mean = Arrays.stream(s).average().orElse(0) / 1e3;
        System.out.printf("request latency (1 in flight): mean %.1f us, p50 %.1f us, p99 %.1f us over %d requests%n",
                mean, s[n / 2] / 1e3, s[(int) (n * 0.99)] / 1e3, n);
    }

    static void throughput(Connection conn, double seconds) throws InterruptedException {
        int inFlight = 128;
        AtomicLong done = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        long warm = System.nanoTime() + 1_000_000_000L;
        long end = warm + (long) (seconds * 1e9);
        for (int t = 0; t < inFlight; t++) {
            Thread thread = new Thread(() -> {
                while (System.nanoTime() < end) {
                    conn.request("bench", ONE, TIMEOUT);
                    if (System.nanoTime() >= warm) {
                        done.incrementAndGet();
                    }
                }
            });
            thread.start();
            threads.add(thread);
        }
        for (Thread thread : threads) {
            thread.join();
        }
        System.out.printf("request throughput (128 in flight): %.0f requests/s (%d in %.1f s)%n",
                done.get() / seconds, done.get(), seconds);
    }

    static void publish(int port, double seconds) throws InterruptedException {
        AtomicLong received = new AtomicLong();
        try (Connection sub = Iris.connect(port); Connection pub = Iris.connect(port)) {
            sub.subscribe("bench-topic", event -> received.incrementAndGet(), new TopicLimits());
            Thread.sleep(200);
            long start = System.nanoTime();
            long end = start + (long) (seconds * 1e9);
            long sent = 0;
            while (System.nanoTime() < end) {
                for (int i = 0; i < 1000; i++) {
                    pub.publish("bench-topic", ONE);
                }
                sent += 1000;
            }
            // Let what is in flight arrive, until the count stops moving.
            long last = -1;
            while (received.get() != last) {
                last = received.get();
                Thread.sleep(200);
            }
            double elapsed = (System.nanoTime() - start) / 1e9 - 0.2;
            System.out.printf("publish to one subscriber: %.0f events/s delivered (%d of %d sent, %.1f s)%n",
                    received.get() / elapsed, received.get(), sent, elapsed);
        }
    }
}
