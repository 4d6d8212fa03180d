package io.iris;

/**
 * The base of Iris failures. {@link #code()} is the core's stable code ({@code TIMEOUT},
 * {@code CLOSED}, {@code REMOTE}, {@code PROTOCOL}, {@code IO}; {@code INTERRUPTED} and
 * {@code INTERNAL} are the binding's own). Bad arguments are {@link InvalidArgumentException}
 * instead, an {@link IllegalArgumentException}.
 */
public class IrisException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    /** The stable code. */
    private final String code;

    /**
     * An exception with a code and a message.
     *
     * @param code the stable code, such as {@code "TIMEOUT"}
     * @param message the human-readable message (for {@code REMOTE}, the fault text)
     */
    public IrisException(String code, String message) {
        super(message);
        this.code = code;
    }

    /**
     * The stable code.
     *
     * @return the code, such as {@code "TIMEOUT"}
     */
    public String code() {
        return code;
    }

    /** The core's kind for {@link #code()}, or {@code null} for the binding's own codes. */
    public ErrorKind kind() {
        return ErrorKind.fromCode(code);
    }
}
