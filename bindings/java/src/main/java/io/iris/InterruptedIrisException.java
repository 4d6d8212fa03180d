package io.iris;

/** The calling thread was interrupted while it waited; its interrupt flag stays set. The operation was abandoned (a late reply is discarded). */
public class InterruptedIrisException extends IrisException {
    private static final long serialVersionUID = 1L;

    /** An exception with this kind's code and {@code message}. */
    public InterruptedIrisException(String message) {
        super("INTERRUPTED", message);
    }
}
