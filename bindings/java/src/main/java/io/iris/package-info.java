/**
 * Iris for Java: decentralized messaging through the local {@code iris} node.
 *
 * <p>Start with {@link io.iris.Iris#connect(int)} for a plain client and
 * {@link io.iris.Iris#register(int, String, ServiceHandler, ServiceLimits)} to join a service cluster.
 * Four patterns: request/reply ({@link io.iris.Connection#request}), broadcast
 * ({@link io.iris.Connection#broadcast}), publish/subscribe ({@link io.iris.Connection#publish},
 * {@link io.iris.Connection#subscribe}) and tunnels ({@link io.iris.Connection#tunnel}).
 *
 * <p>The classes are a thin layer over the Rust client core, loaded as a native library from the
 * jar; every semantic (limits, expiry, validation, timeouts, error kinds) comes from that core.
 * Failures are unchecked exceptions: {@link io.iris.IrisException} and its subclasses, and
 * {@link io.iris.InvalidArgumentException} (an {@link java.lang.IllegalArgumentException}) for bad
 * arguments.
 */
package io.iris;
