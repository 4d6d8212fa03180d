package io.iris;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;

/**
 * A registered member of a service cluster. {@link #close()} leaves the cluster: the node stops
 * routing to this member first, requests already delivered are answered, then the connection
 * closes and the handler is released. A service stays registered until closed, even when the
 * application keeps no reference to it.
 */
public final class Service implements AutoCloseable {
    private final long handle;
    private final Cleaner.Cleanable cleanable;
    private volatile Connection connection;

    Service(long handle) {
        this.handle = handle;
        this.cleanable = Native.CLEANER.register(this, new Free(handle));
        Native.OPEN.add(this);
    }

    private static final class Free implements Runnable {
        private final long handle;

        Free(long handle) {
            this.handle = handle;
        }

        @Override
        public void run() {
            Native.serviceFree(handle);
        }
    }

    /** The service's own connection, usable as a client too. Closing it closes the service. */
    public Connection connection() {
        Connection c = connection;
        if (c == null) {
            synchronized (this) {
                c = connection;
                if (c == null) {
                    try {
                        c = new Connection(Native.serviceConnection(handle), false);
                    } finally {
                        Reference.reachabilityFence(this);
                    }
                    connection = c;
                }
            }
        }
        return c;
    }

    /** Leaves the cluster gracefully (see the class comment). Closing twice is fine. */
    @Override
    public void close() {
        try {
            Native.serviceClose(handle);
        } finally {
            Native.OPEN.remove(this);
            Reference.reachabilityFence(this);
        }
    }

    /** Same as {@link #close()}. */
    public void unregister() {
        close();
    }
}
