package io.iris;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.time.Duration;
import java.util.Objects;

/**
 * A connection to the local Iris node.
 *
 * <p>Thread-safe: any number of threads may use one connection at once. Blocking calls can be
 * interrupted with {@link Thread#interrupt()} (they then throw {@link InterruptedIrisException}).
 * After {@link #close()} every operation throws {@link ClosedException}, and calls blocked at
 * that moment are released with it. A connection from {@link Iris#connect} stays open until closed,
 * even when the application keeps no reference to it.
 */
public final class Connection implements AutoCloseable {
    private final long handle;
    private final Cleaner.Cleanable cleanable;

    /**
     * @param pinned true for a connection the application opened ({@link Iris#connect}): it stays
     *     open until closed, even unreferenced. Views of a service's connection are not pinned.
     */
    Connection(long handle, boolean pinned) {
        this.handle = handle;
        this.cleanable = Native.CLEANER.register(this, new Free(handle));
        if (pinned) {
            Native.OPEN.add(this);
        }
    }

    private static final class Free implements Runnable {
        private final long handle;

        Free(long handle) {
            this.handle = handle;
        }

        @Override
        public void run() {
            Native.connectionFree(handle);
        }
    }

    /**
     * Sends {@code request} to one member of {@code cluster} (load balanced) and waits for its reply.
     *
     * @param cluster the cluster name, not empty
     * @param request the request, not empty
     * @param timeout how long to wait for the reply, at least 1 ms
     * @return the reply
     * @throws TimeoutException when no reply came in time (also when the cluster has no member)
     * @throws RemoteException when the service's handler failed; the message is its fault text
     * @throws ClosedException when the connection is closed
     * @throws InvalidArgumentException for an empty cluster or request, or a timeout under 1 ms
     */
    public byte[] request(String cluster, byte[] request, Duration timeout) {
        Objects.requireNonNull(cluster, "cluster");
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(timeout, "timeout");
        try {
            return Native.request(handle, cluster, request, Native.nanos(timeout));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Sends {@code message} to every member of {@code cluster}, this connection's own service
     * included. Best effort: there is no reply and no delivery report.
     *
     * @param cluster the cluster name, not empty
     * @param message the message, not empty
     */
    public void broadcast(String cluster, byte[] message) {
        Objects.requireNonNull(cluster, "cluster");
        Objects.requireNonNull(message, "message");
        try {
            Native.broadcast(handle, cluster, message);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Sends {@code event} to every subscriber of {@code topic} (best effort).
     *
     * @param topic the topic name, not empty
     * @param event the event, not empty
     */
    public void publish(String topic, byte[] event) {
        Objects.requireNonNull(topic, "topic");
        Objects.requireNonNull(event, "event");
        try {
            Native.publish(handle, topic, event);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Subscribes to {@code topic} with default limits. @see #subscribe(String, TopicHandler, TopicLimits) */
    public void subscribe(String topic, TopicHandler handler) {
        subscribe(topic, handler, new TopicLimits());
    }

    /**
     * Subscribes to {@code topic}: every event published to it runs {@code handler} on a daemon
     * thread of the core, at most {@link TopicLimits#eventThreads()} at once; events beyond
     * {@link TopicLimits#eventMemory()} queued octets are dropped.
     *
     * @throws InvalidArgumentException when this connection already subscribes to {@code topic}
     */
    public void subscribe(String topic, TopicHandler handler, TopicLimits limits) {
        Objects.requireNonNull(topic, "topic");
        Objects.requireNonNull(handler, "handler");
        Objects.requireNonNull(limits, "limits");
        try {
            Native.subscribe(handle, topic, handler, limits.eventThreads(), limits.eventMemory());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Ends the subscription to {@code topic}; events already queued for it are dropped.
     *
     * @throws InvalidArgumentException when this connection does not subscribe to {@code topic}
     */
    public void unsubscribe(String topic) {
        Objects.requireNonNull(topic, "topic");
        try {
            Native.unsubscribe(handle, topic);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Opens a tunnel to one member of {@code cluster}, waiting at most {@code timeout} for it.
     *
     * @return the tunnel; close it when done
     * @throws TimeoutException when no member accepted in time
     */
    public Tunnel tunnel(String cluster, Duration timeout) {
        Objects.requireNonNull(cluster, "cluster");
        Objects.requireNonNull(timeout, "timeout");
        try {
            return new Tunnel(Native.tunnel(handle, cluster, Native.nanos(timeout)));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Closes the connection gracefully: a service leaves its cluster first, work already accepted
     * finishes, then the node confirms. Closing twice is fine; closing from inside a handler does
     * not wait for the drain.
     */
    @Override
    public void close() {
        try {
            Native.connectionClose(handle);
        } finally {
            Native.OPEN.remove(this);
            Reference.reachabilityFence(this);
        }
    }

    /** True until the connection starts closing (by {@link #close()} or the node dropping it). */
    public boolean isOpen() {
        try {
            return Native.connectionIsOpen(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A process-unique id of this connection, as used in the core's log fields. */
    public long id() {
        try {
            return Native.connectionId(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    @Override
    public String toString() {
        return "Connection(" + id() + (isOpen() ? ", open)" : ", closed)");
    }
}
