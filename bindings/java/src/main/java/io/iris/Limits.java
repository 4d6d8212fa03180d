package io.iris;

final class Limits {
    private Limits() {}

    static int nonNegative(String what, int value) {
        if (value < 0) {
            throw new InvalidArgumentException(what + " must not be negative, got " + value);
        }
        return value;
    }

    static long nonNegative(String what, long value) {
        if (value < 0) {
            throw new InvalidArgumentException(what + " must not be negative, got " + value);
        }
        return value;
    }
}
