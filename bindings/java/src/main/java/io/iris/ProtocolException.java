package io.iris;

/** The node broke the relay protocol or refused the handshake. */
public class ProtocolException extends IrisException {
    private static final long serialVersionUID = 1L;

    /** An exception with this kind's code and {@code message}. */
    public ProtocolException(String message) {
        super("PROTOCOL", message);
    }
}
