import io.iris.*;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

public class Quickstart {
    public static void main(String[] args) throws Exception {
        int port = Integer.getInteger("iris.port", Iris.DEFAULT_PORT);

        // A service: one member of the cluster "echo". A handler that throws sends a fault.
        Service service = Iris.register(port, "echo", new ServiceHandler() {
            @Override public byte[] handleRequest(byte[] request) { return request; }
            @Override public void handleTunnel(Tunnel tunnel) { tunnel.send(tunnel.receive()); }
        }, new ServiceLimits().requestThreads(4));

        try (Connection conn = Iris.connect(port)) {
            byte[] reply = conn.request("echo", "hi".getBytes(), Duration.ofSeconds(1));
            System.out.println("reply: " + new String(reply));
            conn.broadcast("echo", "to every member".getBytes());

            CountDownLatch received = new CountDownLatch(1);
            conn.subscribe("news", event -> {
                System.out.println("event: " + new String(event));
                received.countDown();
            }, new TopicLimits().eventThreads(1));
            conn.publish("news", "iris is up".getBytes());
            received.await(5, TimeUnit.SECONDS);
            conn.unsubscribe("news");

            try (Tunnel tunnel = conn.tunnel("echo", Duration.ofSeconds(1))) {
                tunnel.send("ping".getBytes(), Duration.ofSeconds(1));
                System.out.println("tunnel: " + new String(tunnel.receive(Duration.ofSeconds(1))));
            }
        }
        service.close();
    }
}
