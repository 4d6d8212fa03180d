package io.iris;

/** The operation's deadline passed: no reply, no tunnel, no allowance or no message in time. */
public class TimeoutException extends IrisException {
    private static final long serialVersionUID = 1L;

    /** An exception with this kind's code and {@code message}. */
    public TimeoutException(String message) {
        super("TIMEOUT", message);
    }
}
