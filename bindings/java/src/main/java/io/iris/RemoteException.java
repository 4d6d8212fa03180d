package io.iris;

/** The remote request handler failed; the message is its fault text, verbatim. */
public class RemoteException extends IrisException {
    private static final long serialVersionUID = 1L;

    /** An exception with this kind's code and {@code message}. */
    public RemoteException(String message) {
        super("REMOTE", message);
    }
}
