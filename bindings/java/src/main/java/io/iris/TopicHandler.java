package io.iris;

/**
 * The callback of one topic subscription, called on the core's daemon threads, concurrently up to
 * {@link TopicLimits#eventThreads()}. An exception thrown here is logged and ignored.
 */
@FunctionalInterface
public interface TopicHandler {
    /** An event published to the topic. */
    void handleEvent(byte[] event) throws Exception;
}
