package io.iris;

/**
 * The callbacks of one service member. Every method has a default, so implement only what the
 * service uses.
 *
 * <p>Threads: {@link #init} runs once on the thread calling {@link Iris#register}, before anything
 * else. Then the core calls {@link #handleRequest} and {@link #handleBroadcast} on its own daemon
 * threads, concurrently up to the {@link ServiceLimits}, in arrival order; each inbound tunnel
 * gets a thread of its own; {@link #handleDrop} runs at most once. Handlers may block and may use
 * any Iris API, including closing the service.
 */
public interface ServiceHandler {
    /**
     * Runs once, before any other handler, with the service's own connection (usable as a client).
     * Throwing aborts the registration with the exception's message.
     */
    default void init(Connection connection) throws Exception {}

    /** A message broadcast to the cluster. An exception thrown here is logged and ignored. */
    default void handleBroadcast(byte[] message) throws Exception {}

    /**
     * A request: return the reply ({@code null} means an empty reply). Throwing makes the caller get
     * a {@link RemoteException} whose message is the exception's message (or its class name when
     * the message is null or empty).
     */
    default byte[] handleRequest(byte[] request) throws Exception {
        throw new UnsupportedOperationException("this service does not handle requests");
    }

    /** An inbound tunnel; it is closed when this method returns. */
    default void handleTunnel(Tunnel tunnel) throws Exception {}

    /**
     * The node dropped this service (a non-graceful end); {@code reason} says why. Not called on
     * {@link Service#close()}.
     */
    default void handleDrop(IrisException reason) {}
}
