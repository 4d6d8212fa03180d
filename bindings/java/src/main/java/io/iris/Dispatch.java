package io.iris;

/**
 * The Java half of the native callbacks: the core's handler threads call these static methods,
 * which call the application's handlers and turn their exceptions into fault strings, so no Java
 * exception has to cross back into native code. Also builds the exceptions native methods throw.
 */
final class Dispatch {
    private static final System.Logger LOG = System.getLogger("io.iris");

    private Dispatch() {}

    /** The text an exception contributes as a fault: its message, or its class name. */
    static String faultText(Throwable t) {
        String message = t.getMessage();
        return message == null || message.isEmpty() ? t.getClass().getName() : message;
    }

    /** Runs {@code init}; returns null on success, else the failure text. */
    static String init(ServiceHandler handler, long connection) {
        try {
            handler.init(new Connection(connection, false));
            return null;
        } catch (Throwable t) {
            return faultText(t);
        }
    }

    /** Returns the reply (byte[]) or the fault (String). */
    static Object request(ServiceHandler handler, byte[] request) {
        try {
            byte[] reply = handler.handleRequest(request);
            return reply == null ? new byte[0] : reply;
        } catch (Throwable t) {
            return faultText(t);
        }
    }

    static void broadcast(ServiceHandler handler, byte[] message) {
        try {
            handler.handleBroadcast(message);
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.WARNING, "iris broadcast handler failed", t);
        }
    }

    static void tunnel(ServiceHandler handler, long tunnel) {
        Tunnel t = new Tunnel(tunnel);
        try {
            handler.handleTunnel(t);
        } catch (Throwable e) {
            LOG.log(System.Logger.Level.WARNING, "iris tunnel handler failed", e);
        }
        // The native side closes the tunnel once this returns.
    }

    static void dropped(ServiceHandler handler, String code, String message) {
        try {
            RuntimeException reason = error(code, message);
            handler.handleDrop(reason instanceof IrisException ie ? ie : new IrisException(code, message));
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.WARNING, "iris drop handler failed", t);
        }
    }

    static void event(TopicHandler handler, byte[] event) {
        try {
            handler.handleEvent(event);
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.WARNING, "iris topic handler failed", t);
        }
    }

    /** Whether the calling thread is interrupted (the flag stays set). */
    static boolean interrupted() {
        return Thread.currentThread().isInterrupted();
    }

    /** The exception for an error code: one class per core kind, the base class otherwise. */
    static RuntimeException error(String code, String message) {
        ErrorKind kind = ErrorKind.fromCode(code);
        if (kind == null) {
            return code.equals("INTERRUPTED") ? new InterruptedIrisException(message) : new IrisException(code, message);
        }
        return switch (kind) {
            case TIMEOUT -> new TimeoutException(message);
            case CLOSED -> new ClosedException(message);
            case REMOTE -> new RemoteException(message);
            case INVALID_ARGUMENT -> new InvalidArgumentException(message);
            case PROTOCOL -> new ProtocolException(message);
            case IO -> new IoException(message);
        };
    }
}
