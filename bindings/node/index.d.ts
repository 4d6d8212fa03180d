/**
 * The stable error codes of the core.
 */
export type ErrorCode = "TIMEOUT" | "CLOSED" | "REMOTE" | "INVALID_ARGUMENT" | "PROTOCOL" | "IO";
/**
 * Limits of one service registration. A field left out or 0 takes the core's default
 * (threads: 4 x CPU count, memory: 64 MiB).
 */
export type ServiceLimits = {
    /**
     * at most this many request handlers run at once; the rest wait in FIFO order
     */
    requestThreads?: number | undefined;
    /**
     * octets of requests queued but not yet started; a request that does not fit is dropped (its caller times out)
     */
    requestMemory?: number | undefined;
    /**
     * at most this many broadcast handlers run at once
     */
    broadcastThreads?: number | undefined;
    /**
     * octets of broadcasts queued but not yet started; one that does not fit is dropped
     */
    broadcastMemory?: number | undefined;
};
/**
 * Limits of one subscription; same meaning as {@link ServiceLimits}, for events.
 */
export type TopicLimits = {
    /**
     * at most this many event handlers run at once
     */
    eventThreads?: number | undefined;
    /**
     * octets of events queued but not yet started; one that does not fit is dropped
     */
    eventMemory?: number | undefined;
};
/**
 * The callbacks of a service member; every one is optional and may return a Promise, which is
 * awaited before the core counts the call as finished.
 */
export type ServiceHandler = {
    /**
     * runs once, before any other handler; throwing aborts the registration
     */
    init?: ((connection: Connection) => unknown) | undefined;
    /**
     * the reply; throwing or rejecting sends the error's message as the fault
     */
    handleRequest?: ((request: Buffer) => Buffer | Uint8Array | string | Promise<Buffer | Uint8Array | string>) | undefined;
    /**
     * a message broadcast to the cluster
     */
    handleBroadcast?: ((message: Buffer) => unknown) | undefined;
    /**
     * an inbound tunnel; it is closed once this returns (or its Promise settles)
     */
    handleTunnel?: ((tunnel: Tunnel) => unknown) | undefined;
    /**
     * the node dropped this service (not called after unregister)
     */
    handleDrop?: ((error: IrisError) => unknown) | undefined;
};
/**
 * An event callback: a function, or an object with `handleEvent`. It may return a Promise.
 */
export type TopicHandler = ((event: Buffer) => unknown) | {
    handleEvent: (event: Buffer) => unknown;
};
export type Payload = Buffer | Uint8Array | string;
/**
 * Connects to the Iris node listening on `port` of this host, as a plain client.
 * @param {number} port
 * @returns {Promise<Connection>}
 */
export function connect(port: number): Promise<Connection>;
/**
 * Registers `handler` as a member of `cluster` at the node on `port`. Resolves once the
 * handler's `init` has finished; rejects with {@link InvalidArgumentError} if `init` threw.
 * @param {number} port
 * @param {string} cluster
 * @param {ServiceHandler} handler
 * @param {ServiceLimits} [limits]
 * @returns {Promise<Service>}
 */
export function register(port: number, cluster: string, handler: ServiceHandler, limits?: ServiceLimits | undefined): Promise<Service>;
/**
 * The stable codes of every error kind the core has (for tests and tooling).
 * @returns {string[]}
 */
export function errorCodes(): string[];
/**
 * Limits of one service registration. A field left out or 0 takes the core's default
 * (threads: 4 x CPU count, memory: 64 MiB).
 * @typedef {object} ServiceLimits
 * @property {number} [requestThreads] at most this many request handlers run at once; the rest wait in FIFO order
 * @property {number} [requestMemory] octets of requests queued but not yet started; a request that does not fit is dropped (its caller times out)
 * @property {number} [broadcastThreads] at most this many broadcast handlers run at once
 * @property {number} [broadcastMemory] octets of broadcasts queued but not yet started; one that does not fit is dropped
 */
/**
 * Limits of one subscription; same meaning as {@link ServiceLimits}, for events.
 * @typedef {object} TopicLimits
 * @property {number} [eventThreads] at most this many event handlers run at once
 * @property {number} [eventMemory] octets of events queued but not yet started; one that does not fit is dropped
 */
/**
 * The callbacks of a service member; every one is optional and may return a Promise, which is
 * awaited before the core counts the call as finished.
 * @typedef {object} ServiceHandler
 * @property {(connection: Connection) => unknown} [init] runs once, before any other handler; throwing aborts the registration
 * @property {(request: Buffer) => Buffer | Uint8Array | string | Promise<Buffer | Uint8Array | string>} [handleRequest] the reply; throwing or rejecting sends the error's message as the fault
 * @property {(message: Buffer) => unknown} [handleBroadcast] a message broadcast to the cluster
 * @property {(tunnel: Tunnel) => unknown} [handleTunnel] an inbound tunnel; it is closed once this returns (or its Promise settles)
 * @property {(error: IrisError) => unknown} [handleDrop] the node dropped this service (not called after unregister)
 */
/**
 * An event callback: a function, or an object with `handleEvent`. It may return a Promise.
 * @typedef {((event: Buffer) => unknown) | {handleEvent: (event: Buffer) => unknown}} TopicHandler
 */
/** Message payloads: a Buffer, any Uint8Array, or a string (sent as UTF-8). */
/** @typedef {Buffer | Uint8Array | string} Payload */
/**
 * A connection to the local Iris node. Created by {@link connect}; a service's own connection is
 * given to its `init` handler and available as {@link Service#connection}.
 *
 * An idle connection does not keep the process alive; a subscription does, until it is
 * unsubscribed or the connection is closed.
 */
export class Connection {
    /**
     * @param {any} nativeConnection
     * @hideconstructor
     */
    constructor(nativeConnection: any);
    /** A process-unique id of this connection, as used in the core's log fields. */
    get id(): number;
    /** True until the connection starts closing. */
    isOpen(): boolean;
    /**
     * Sends `request` to one member of `cluster` and resolves to its reply.
     *
     * Rejects with {@link TimeoutError} when no reply came within `timeout` ms (also when the cluster
     * has no member), {@link RemoteError} with the service's fault text, {@link ClosedError}, or
     * {@link InvalidArgumentError}.
     * @param {string} cluster
     * @param {Payload} request must not be empty
     * @param {number} timeout milliseconds, at least 1
     * @returns {Promise<Buffer>}
     */
    request(cluster: string, request: Payload, timeout: number): Promise<Buffer>;
    /**
     * Sends `message` to every member of `cluster` (best effort, no reply).
     * @param {string} cluster
     * @param {Payload} message must not be empty
     * @returns {Promise<void>}
     */
    broadcast(cluster: string, message: Payload): Promise<void>;
    /**
     * Sends `event` to every subscriber of `topic` (best effort).
     * @param {string} topic
     * @param {Payload} event must not be empty
     * @returns {Promise<void>}
     */
    publish(topic: string, event: Payload): Promise<void>;
    /**
     * Subscribes to `topic`: every event published to it runs `handler` on the JavaScript thread,
     * within `limits`. Subscribing twice to one topic rejects with {@link InvalidArgumentError}.
     * While subscribed, the process stays alive.
     * @param {string} topic
     * @param {TopicHandler} handler
     * @param {TopicLimits} [limits]
     * @returns {Promise<void>}
     */
    subscribe(topic: string, handler: TopicHandler, limits?: TopicLimits | undefined): Promise<void>;
    /**
     * Ends the subscription to `topic`; events already queued for it are dropped. Unsubscribing
     * from a topic not subscribed rejects with {@link InvalidArgumentError}.
     * @param {string} topic
     * @returns {Promise<void>}
     */
    unsubscribe(topic: string): Promise<void>;
    /**
     * Opens a tunnel to one member of `cluster`, waiting at most `timeout` ms for it to accept.
     * @param {string} cluster
     * @param {number} timeout milliseconds, at least 1
     * @returns {Promise<Tunnel>}
     */
    tunnel(cluster: string, timeout: number): Promise<Tunnel>;
    /**
     * Closes the connection gracefully; pending calls reject with {@link ClosedError}, and every
     * later call too. Closing twice is fine. Called from inside a handler it resolves as soon as the
     * close has started (waiting would wait for the handler itself).
     * @returns {Promise<void>}
     */
    close(): Promise<void>;
    #private;
}
/**
 * A registered member of a cluster. It keeps the process alive until {@link Service#unregister}
 * (or until the node drops it).
 */
export class Service {
    /**
     * @param {any} nativeService
     * @hideconstructor
     */
    constructor(nativeService: any);
    /** The service's own connection, usable as a client too. */
    get connection(): Connection;
    /**
     * Leaves the cluster gracefully: the node stops routing to this member first, requests already
     * delivered are answered, then the connection closes. Unregistering twice is fine. Called from
     * inside a handler it resolves as soon as leaving has started.
     * @returns {Promise<void>}
     */
    unregister(): Promise<void>;
    #private;
}
/**
 * One end of a tunnel: an ordered, flow-controlled stream of messages. Send and receive may run
 * concurrently. A tunnel given to `handleTunnel` is closed once that handler has finished.
 */
export class Tunnel {
    /**
     * @param {any} nativeTunnel
     * @hideconstructor
     */
    constructor(nativeTunnel: any);
    /** The tunnel's id on its connection (for logs). */
    get id(): number;
    /**
     * Sends one message, waiting for flow-control allowance as needed. On a timeout part of the
     * message may have been sent; the receiver discards such an incomplete message.
     * @param {Payload} message must not be empty
     * @param {number} [timeout] milliseconds for the whole message; 0 or omitted = no deadline
     * @returns {Promise<void>}
     */
    send(message: Payload, timeout?: number | undefined): Promise<void>;
    /**
     * Resolves to the next message. Messages that arrived before the tunnel closed are still
     * returned; after them, it rejects with {@link ClosedError}.
     * @param {number} [timeout] milliseconds; 0 or omitted = no deadline
     * @returns {Promise<Buffer>}
     */
    recv(timeout?: number | undefined): Promise<Buffer>;
    /**
     * Closes the tunnel and waits briefly for the node to confirm. Closing twice is fine.
     * @returns {Promise<void>}
     */
    close(): Promise<void>;
    #private;
}
/**
 * The stable error codes of the core.
 * @typedef {'TIMEOUT' | 'CLOSED' | 'REMOTE' | 'INVALID_ARGUMENT' | 'PROTOCOL' | 'IO'} ErrorCode
 */
/** Base class of every error this package raises; `code` is the core's stable error code. */
export class IrisError extends Error {
    /**
     * @param {string} message
     * @param {ErrorCode} code
     */
    constructor(message: string, code: ErrorCode);
    /** The stable code: `TIMEOUT`, `CLOSED`, `REMOTE`, `INVALID_ARGUMENT`, `PROTOCOL` or `IO`. */
    code: ErrorCode;
}
/** The deadline passed: no reply, no tunnel, no credit or no message in time. */
export class TimeoutError extends IrisError {
    /** @param {string} message */
    constructor(message: string);
}
/** The connection, service or tunnel is closed (by the application or by the node). */
export class ClosedError extends IrisError {
    /** @param {string} message */
    constructor(message: string);
}
/** The remote request handler failed; `message` is its fault text, verbatim. */
export class RemoteError extends IrisError {
    /** @param {string} message */
    constructor(message: string);
}
/** An argument the protocol cannot carry (wrong type, empty name or payload, timeout under 1 ms, ...). Nothing was sent. */
export class InvalidArgumentError extends IrisError {
    /** @param {string} message */
    constructor(message: string);
}
/** The node broke the relay protocol or refused the handshake. */
export class ProtocolError extends IrisError {
    /** @param {string} message */
    constructor(message: string);
}
/** The socket failed (node not running, connection reset, ...). */
export class IoError extends IrisError {
    /** @param {string} message */
    constructor(message: string);
}
/** Error class of each core error code. */
export const ERROR_CLASSES: Readonly<{
    TIMEOUT: typeof TimeoutError;
    CLOSED: typeof ClosedError;
    REMOTE: typeof RemoteError;
    INVALID_ARGUMENT: typeof InvalidArgumentError;
    PROTOCOL: typeof ProtocolError;
    IO: typeof IoError;
}>;
