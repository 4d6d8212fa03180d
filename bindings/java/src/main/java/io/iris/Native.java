package io.iris;

import java.io.IOException;
import java.io.InputStream;
import java.lang.ref.Cleaner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The native methods of the JNI library, and its loading.
 *
 * <p>Where the library comes from, in order: the file named by the system property
 * {@code iris.native.path}; {@code java.library.path} when {@code iris.native.useLibraryPath} is
 * {@code true}; otherwise the copy inside the jar ({@code native/<os>-<arch>/}), extracted to a
 * temporary file (deleted again right after loading), falling back to {@code java.library.path}
 * when the jar has none for this platform.
 */
final class Native {
    /** Frees native objects once their Java objects are unreachable (daemon thread). */
    static final Cleaner CLEANER = Cleaner.create();

    /**
     * Connections and services the application opened and has not closed. Holding them here keeps
     * a service registered (and a connection's subscriptions alive) even when the application keeps
     * no reference, as a Java developer expects of an open resource; {@code close()} lets go.
     */
    static final Set<Object> OPEN = ConcurrentHashMap.newKeySet();

    static {
        load();
    }

    private Native() {}

    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String osPart = os.contains("mac") || os.contains("darwin") ? "macos" : os.contains("win") ? "windows" : "linux";
        String archPart = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "arm64", "aarch64" -> "aarch64";
            default -> arch;
        };
        return osPart + "-" + archPart;
    }

    private static void load() {
        String explicit = System.getProperty("iris.native.path");
        if (explicit != null && !explicit.isEmpty()) {
            System.load(Path.of(explicit).toAbsolutePath().toString());
            return;
        }
        if (Boolean.getBoolean("iris.native.useLibraryPath")) {
            System.loadLibrary("iris_jni");
            return;
        }
        String file = System.mapLibraryName("iris_jni");
        String resource = "/native/" + platform() + "/" + file;
        try (InputStream in = Native.class.getResourceAsStream(resource)) {
            if (in == null) {
                System.loadLibrary("iris_jni");
                return;
            }
            Path temp = Files.createTempFile("iris_jni-", "-" + file);
            try {
                Files.copy(in, temp, StandardCopyOption.REPLACE_EXISTING);
                System.load(temp.toAbsolutePath().toString());
            } finally {
                // Once loaded, the mapping outlives the file on Unix; elsewhere delete at exit.
                try {
                    Files.delete(temp);
                } catch (IOException e) {
                    temp.toFile().deleteOnExit();
                }
            }
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot extract the iris native library " + resource + ": " + e);
        }
    }

    /** A timeout in nanoseconds for the native side, saturating instead of overflowing. */
    static long nanos(Duration timeout) {
        if (timeout.isNegative()) {
            return 0;
        }
        try {
            return timeout.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    static native long connect(int port);

    static native void connectionFree(long conn);

    static native byte[] request(long conn, String cluster, byte[] request, long timeoutNanos);

    static native void broadcast(long conn, String cluster, byte[] message);

    static native void publish(long conn, String topic, byte[] event);

    static native void subscribe(long conn, String topic, TopicHandler handler, int eventThreads, long eventMemory);

    static native void unsubscribe(long conn, String topic);

    static native long tunnel(long conn, String cluster, long timeoutNanos);

    static native void connectionClose(long conn);

    static native boolean connectionIsOpen(long conn);

    static native long connectionId(long conn);

    static native long register(int port, String cluster, ServiceHandler handler, int broadcastThreads,
            long broadcastMemory, int requestThreads, long requestMemory);

    static native long serviceConnection(long service);

    static native void serviceClose(long service);

    static native void serviceFree(long service);

    /** {@code timeoutNanos} below 0: no timeout. */
    static native void tunnelSend(long tunnel, byte[] message, long timeoutNanos);

    /** {@code timeoutNanos} below 0: no timeout. */
    static native byte[] tunnelReceive(long tunnel, long timeoutNanos);

    static native void tunnelClose(long tunnel);

    static native long tunnelId(long tunnel);

    static native void tunnelFree(long tunnel);

    /** Every error code of the core (tests check each maps to an exception class). */
    static native String[] errorCodes();

    /** Throws the core error of {@code code} through the native error path (tests). */
    static native void throwCoreError(String code);

    /** Panics inside native code (tests: it must surface as an exception). */
    static native void panicForTest();
}
