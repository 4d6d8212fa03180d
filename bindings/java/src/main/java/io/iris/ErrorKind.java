package io.iris;

/** The core's stable error categories, with the same string codes and numbers in every language. */
public enum ErrorKind {
    /** The operation's deadline passed. */
    TIMEOUT("TIMEOUT", 1),
    /** The connection, service or tunnel is closed. */
    CLOSED("CLOSED", 2),
    /** The remote request handler failed; the message is its fault text. */
    REMOTE("REMOTE", 3),
    /** An argument the protocol cannot carry; nothing was sent. */
    INVALID_ARGUMENT("INVALID_ARGUMENT", 4),
    /** The node broke the relay protocol or refused the handshake. */
    PROTOCOL("PROTOCOL", 5),
    /** The socket failed (node not running, connection reset, ...). */
    IO("IO", 6);

    private final String code;
    private final int number;

    ErrorKind(String code, int number) {
        this.code = code;
        this.number = number;
    }

    /** The stable string code, such as {@code "TIMEOUT"}. */
    public String code() {
        return code;
    }

    /** The stable number (1..6). */
    public int number() {
        return number;
    }

    /** The kind of {@code code}, or {@code null} if it is not one of the core's codes. */
    public static ErrorKind fromCode(String code) {
        for (ErrorKind kind : values()) {
            if (kind.code.equals(code)) {
                return kind;
            }
        }
        return null;
    }
}
