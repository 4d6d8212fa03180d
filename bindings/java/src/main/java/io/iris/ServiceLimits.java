package io.iris;

/**
 * Limits of one service registration; a field left at 0 takes the core's default (threads: 4 x CPU
 * count, memory: 64 MiB).
 *
 * <ul>
 *   <li>threads: at most that many handler calls of that kind run at once; the rest wait in FIFO
 *       order.
 *   <li>memory: total payload octets queued but not yet started. A message that does not fit is
 *       dropped (a dropped request's caller times out); a request whose timeout passes while queued
 *       is dropped too.
 * </ul>
 */
public final class ServiceLimits {
    private int broadcastThreads;
    private long broadcastMemory;
    private int requestThreads;
    private long requestMemory;

    /** All limits at their defaults. */
    public ServiceLimits() {}

    /** Broadcast handler calls that may run at once (0 = default). */
    public ServiceLimits broadcastThreads(int threads) {
        this.broadcastThreads = Limits.nonNegative("broadcastThreads", threads);
        return this;
    }

    /** Octets of broadcasts that may wait for a handler (0 = default). */
    public ServiceLimits broadcastMemory(long bytes) {
        this.broadcastMemory = Limits.nonNegative("broadcastMemory", bytes);
        return this;
    }

    /** Request handler calls that may run at once (0 = default). */
    public ServiceLimits requestThreads(int threads) {
        this.requestThreads = Limits.nonNegative("requestThreads", threads);
        return this;
    }

    /** Octets of requests that may wait for a handler (0 = default). */
    public ServiceLimits requestMemory(long bytes) {
        this.requestMemory = Limits.nonNegative("requestMemory", bytes);
        return this;
    }

    /** The configured broadcast thread limit (0 = default). */
    public int broadcastThreads() {
        return broadcastThreads;
    }

    /** The configured broadcast memory limit (0 = default). */
    public long broadcastMemory() {
        return broadcastMemory;
    }

    /** The configured request thread limit (0 = default). */
    public int requestThreads() {
        return requestThreads;
    }

    /** The configured request memory limit (0 = default). */
    public long requestMemory() {
        return requestMemory;
    }
}
