package io.iris;

/** Limits of one topic subscription; same meaning as {@link ServiceLimits}, for events. */
public final class TopicLimits {
    private int eventThreads;
    private long eventMemory;

    /** All limits at their defaults. */
    public TopicLimits() {}

    /** Event handler calls that may run at once (0 = default). */
    public TopicLimits eventThreads(int threads) {
        this.eventThreads = Limits.nonNegative("eventThreads", threads);
        return this;
    }

    /** Octets of events that may wait for a handler (0 = default). */
    public TopicLimits eventMemory(long bytes) {
        this.eventMemory = Limits.nonNegative("eventMemory", bytes);
        return this;
    }

    /** The configured event thread limit (0 = default). */
    public int eventThreads() {
        return eventThreads;
    }

    /** The configured event memory limit (0 = default). */
    public long eventMemory() {
        return eventMemory;
    }
}
