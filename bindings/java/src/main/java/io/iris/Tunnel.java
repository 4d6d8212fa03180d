package io.iris;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.time.Duration;
import java.util.Objects;

/**
 * An ordered, flow-controlled stream of messages to one member of a cluster (or, in
 * {@link ServiceHandler#handleTunnel(Tunnel)}, from a client). Messages arrive in order, exactly
 * as sent; a reader that stops reading eventually blocks the writer.
 *
 * <p>One thread may send while another receives. A tunnel given to a service handler is closed
 * when that handler returns.
 */
public final class Tunnel implements AutoCloseable {
    private final long handle;
    private final Cleaner.Cleanable cleanable;

    Tunnel(long handle) {
        this.handle = handle;
        this.cleanable = Native.CLEANER.register(this, new Free(handle));
    }

    private static final class Free implements Runnable {
        private final long handle;

        Free(long handle) {
            this.handle = handle;
        }

        @Override
        public void run() {
            Native.tunnelFree(handle);
        }
    }

    /** Sends one message, waiting as long as flow control requires. */
    public void send(byte[] message) {
        sendNanos(message, -1);
    }

    /**
     * Sends one message, waiting at most {@code timeout} (for the whole message) for flow-control
     * allowance. {@link Duration#ZERO} waits forever, as in the v1 clients. On a timeout part of the
     * message may have been sent; the receiver discards such an incomplete message.
     *
     * @param message the message, not empty (any size; it travels in chunks)
     * @throws TimeoutException when the allowance did not come in time
     * @throws ClosedException when the tunnel is closed
     */
    public void send(byte[] message, Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        sendNanos(message, timeout.isZero() ? -1 : Native.nanos(timeout));
    }

    private void sendNanos(byte[] message, long nanos) {
        Objects.requireNonNull(message, "message");
        try {
            Native.tunnelSend(handle, message, nanos);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Receives the next message, waiting as long as it takes. */
    public byte[] receive() {
        return receiveNanos(-1);
    }

    /**
     * Receives the next message, waiting at most {@code timeout} ({@link Duration#ZERO}: forever).
     * Messages that arrived before the tunnel closed are still returned; after them,
     * {@link ClosedException}.
     *
     * @throws TimeoutException when no message came in time
     */
    public byte[] receive(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        return receiveNanos(timeout.isZero() ? -1 : Native.nanos(timeout));
    }

    private byte[] receiveNanos(long nanos) {
        try {
            return Native.tunnelReceive(handle, nanos);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Closes the tunnel and waits briefly for the node to confirm. Closing twice is fine. */
    @Override
    public void close() {
        try {
            Native.tunnelClose(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The tunnel's id on its connection (for logs). */
    public long id() {
        try {
            return Native.tunnelId(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }
}
