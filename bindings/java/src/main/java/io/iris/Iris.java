package io.iris;

import java.util.Objects;

/** Entry points: connect to the local node as a client, or register a service. */
public final class Iris {
    /** The port an {@code iris} node listens on unless configured otherwise. */
    public static final int DEFAULT_PORT = 55555;

    private Iris() {}

    /**
     * Connects to the node listening on {@code port} of this host, as a plain client (it can
     * request, broadcast, publish, subscribe and open tunnels, but is never addressed itself).
     *
     * @param port the node's relay port
     * @return the open connection; close it when done
     * @throws IoException when no node listens there
     * @throws ProtocolException when the node refuses the handshake
     */
    public static Connection connect(int port) {
        checkPort(port);
        return new Connection(Native.connect(port), true);
    }

    /**
     * Registers {@code handler} as a member of {@code cluster} with default limits.
     *
     * @see #register(int, String, ServiceHandler, ServiceLimits)
     */
    public static Service register(int port, String cluster, ServiceHandler handler) {
        return register(port, cluster, handler, new ServiceLimits());
    }

    /**
     * Registers {@code handler} as a member of {@code cluster} at the node on {@code port}.
     * {@link ServiceHandler#init(Connection)} runs on the calling thread before this returns and
     * before any other handler method; if it throws, the registration is withdrawn and an
     * {@link InvalidArgumentException} carrying its message is thrown.
     *
     * @param port the node's relay port
     * @param cluster the cluster name, not empty
     * @param handler the callbacks; called on the core's daemon threads within {@code limits}
     * @param limits thread and memory limits (0 = default)
     * @return the registered service; close it to leave the cluster
     */
    public static Service register(int port, String cluster, ServiceHandler handler, ServiceLimits limits) {
        checkPort(port);
        Objects.requireNonNull(cluster, "cluster");
        Objects.requireNonNull(handler, "handler");
        Objects.requireNonNull(limits, "limits");
        long handle = Native.register(port, cluster, handler, limits.broadcastThreads(), limits.broadcastMemory(),
                limits.requestThreads(), limits.requestMemory());
        return new Service(handle);
    }

    private static void checkPort(int port) {
        if (port < 1 || port > 65535) {
            throw new InvalidArgumentException("port " + port + " is out of range 1..65535");
        }
    }
}
