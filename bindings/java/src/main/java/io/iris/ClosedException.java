package io.iris;

/** The connection, service or tunnel is closed (by the application or the node). */
public class ClosedException extends IrisException {
    private static final long serialVersionUID = 1L;

    /** An exception with this kind's code and {@code message}. */
    public ClosedException(String message) {
        super("CLOSED", message);
    }
}
