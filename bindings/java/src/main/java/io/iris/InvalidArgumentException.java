package io.iris;

/**
 * An argument the protocol cannot carry (empty name or payload, a timeout under 1 ms, a duplicate
 * subscription, a service whose {@code init} failed, ...); nothing was sent. An
 * {@link IllegalArgumentException}, with the core's code {@code INVALID_ARGUMENT}.
 */
public class InvalidArgumentException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** An exception with {@code message}. */
    public InvalidArgumentException(String message) {
        super(message);
    }

    /** Always {@code "INVALID_ARGUMENT"}. */
    public String code() {
        return ErrorKind.INVALID_ARGUMENT.code();
    }

    /** Always {@link ErrorKind#INVALID_ARGUMENT}. */
    public ErrorKind kind() {
        return ErrorKind.INVALID_ARGUMENT;
    }
}
