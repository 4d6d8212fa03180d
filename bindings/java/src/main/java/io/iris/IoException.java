package io.iris;

/** The socket failed: no node listening, connection reset, ... */
public class IoException extends IrisException {
    private static final long serialVersionUID = 1L;

    /** An exception with this kind's code and {@code message}. */
    public IoException(String message) {
        super("IO", message);
    }
}
