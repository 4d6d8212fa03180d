'use strict';
/**
 * Iris for Node.js: decentralized messaging through the local `iris` node.
 *
 * A thin layer over the Rust client core (the native addon `iris.node`): every rule about limits,
 * timeouts, validation and error kinds lives in the core. This file checks argument types, turns
 * handler objects into the core's callbacks, and maps native errors onto the exported classes.
 *
 * Threading: handlers run on the JavaScript thread. The core's dispatcher threads queue each
 * handler call here and wait until it (and the Promise it returns) has settled, so the service and
 * topic limits bound how many handler calls are in flight.
 *
 * @module iris
 */

const { AsyncLocalStorage } = require('node:async_hooks');

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * The stable error codes of the core.
 * @typedef {'TIMEOUT' | 'CLOSED' | 'REMOTE' | 'INVALID_ARGUMENT' | 'PROTOCOL' | 'IO'} ErrorCode
 */

/** Base class of every error this package raises; `code` is the core's stable error code. */
class IrisError extends Error {
  /**
   * @param {string} message
   * @param {ErrorCode} code
   */
  constructor(message, code) {
    super(message);
    this.name = new.target.name;
    /** The stable code: `TIMEOUT`, `CLOSED`, `REMOTE`, `INVALID_ARGUMENT`, `PROTOCOL` or `IO`. */
    this.code = code;
  }
}

/** The deadline passed: no reply, no tunnel, no credit or no message in time. */
class TimeoutError extends IrisError {
  /** @param {string} message */
  constructor(message) {
    super(message, 'TIMEOUT');
  }
}

/** The connection, service or tunnel is closed (by the application or by the node). */
class ClosedError extends IrisError {
  /** @param {string} message */
  constructor(message) {
    super(message, 'CLOSED');
  }
}

/** The remote request handler failed; `message` is its fault text, verbatim. */
class RemoteError extends IrisError {
  /** @param {string} message */
  constructor(message) {
    super(message, 'REMOTE');
  }
}

/** An argument the protocol cannot carry (wrong type, empty name or payload, timeout under 1 ms, ...). Nothing was sent. */
class InvalidArgumentError extends IrisError {
  /** @param {string} message */
  constructor(message) {
    super(message, 'INVALID_ARGUMENT');
  }
}

/** The node broke the relay protocol or refused the handshake. */
class ProtocolError extends IrisError {
  /** @param {string} message */
  constructor(message) {
    super(message, 'PROTOCOL');
  }
}

/** The socket failed (node not running, connection reset, ...). */
class IoError extends IrisError {
  /** @param {string} message */
  constructor(message) {
    super(message, 'IO');
  }
}

/** Error class of each core error code. */
const ERROR_CLASSES = Object.freeze({
  TIMEOUT: TimeoutError,
  CLOSED: ClosedError,
  REMOTE: RemoteError,
  INVALID_ARGUMENT: InvalidArgumentError,
  PROTOCOL: ProtocolError,
  IO: IoError,
});

/** napi-rs codes for values it could not convert: a wrong argument type. */
const CONVERSION_CODES = new Set([
  'InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected',
  'NumberExpected', 'BooleanExpected', 'ArrayExpected', 'BigintExpected',
]);

/**
 * Turns an error thrown by the native addon into the matching exported class.
 * @param {any} err
 * @returns {Error}
 */
function fromNative(err) {
  if (err instanceof IrisError || !(err instanceof Error)) return err;
  const coded = /^\[iris:([A-Z_]+)\] ([\s\S]*)$/.exec(err.message);
  if (coded) {
    const Class = ERROR_CLASSES[/** @type {keyof typeof ERROR_CLASSES} */ (coded[1])];
    return Class ? new Class(coded[2]) : new IrisError(coded[2], /** @type {ErrorCode} */ (coded[1]));
  }
  if (CONVERSION_CODES.has(/** @type {any} */ (err).code)) return new InvalidArgumentError(err.message);
  return err;
}

// ---------------------------------------------------------------------------------------------
// The native addon

/** @returns {any} */
function loadNative() {
  try {
    return require(require('node:path').join(__dirname, 'iris.node'));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`the iris native addon is not built (${reason}); run "npm run build" in ${__dirname}`);
  }
}
const native = loadNative();

// ---------------------------------------------------------------------------------------------
// Argument conversion (types only: every other rule is the core's)

/**
 * @param {string} what
 * @param {unknown} value
 * @returns {string}
 */
function checkName(what, value) {
  if (typeof value !== 'string') throw new InvalidArgumentError(`the ${what} must be a string, got ${typeof value}`);
  return value;
}

/**
 * @param {string} what
 * @param {unknown} value
 * @returns {Buffer}
 */
function toBuffer(what, value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value);
  throw new InvalidArgumentError(`the ${what} must be a Buffer, Uint8Array or string, got ${typeof value}`);
}

/**
 * @param {string} what
 * @param {unknown} value
 * @param {number} [fallback] used when `value` is undefined; without it the value is required
 * @returns {number}
 */
function checkMillis(what, value, fallback) {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidArgumentError(`the ${what} must be a number of milliseconds, got ${typeof value}`);
  }
  return value;
}

/**
 * @param {unknown} port
 * @returns {number}
 */
function checkPort(port) {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`the port must be an integer within 0..65535, got ${String(port)}`);
  }
  return port;
}

/**
 * Reads a limits object: every field optional, 0 or missing = the core's default.
 * @param {unknown} limits
 * @param {string[]} fields
 * @returns {number[]}
 */
function readLimits(limits, fields) {
  if (limits === undefined || limits === null) return fields.map(() => 0);
  if (typeof limits !== 'object') throw new InvalidArgumentError(`the limits must be an object, got ${typeof limits}`);
  const given = /** @type {Record<string, unknown>} */ (limits);
  for (const key of Object.keys(given)) {
    if (!fields.includes(key)) throw new InvalidArgumentError(`unknown limit ${JSON.stringify(key)}; known: ${fields.join(', ')}`);
  }
  return fields.map((field) => {
    const value = given[field];
    if (value === undefined) return 0;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new InvalidArgumentError(`the limit ${field} must be an integer >= 0, got ${String(value)}`);
    }
    return value;
  });
}

/** What a call that finished at once resolves to. */
const DONE = Promise.resolve();

/**
 * Starts a native call, mapping a synchronous throw or a rejection onto the exported classes.
 * A native `true` means the call already finished (publish and broadcast, usually).
 * @template T
 * @param {() => Promise<T> | true} start
 * @returns {Promise<T>}
 */
function call(start) {
  try {
    const started = start();
    if (started === true) return /** @type {Promise<any>} */ (DONE);
    return started.catch((err) => {
      throw fromNative(err);
    });
  } catch (err) {
    return Promise.reject(fromNative(err));
  }
}

// ---------------------------------------------------------------------------------------------
// Handler dispatch

/** Set while a handler (and anything it awaits) runs: close and unregister must not wait there. */
const handlerContext = new AsyncLocalStorage();

/**
 * Objects kept reachable while they keep the process alive (registered services, connections
 * with subscriptions), so garbage collection cannot close them behind the application's back.
 * @type {Set<object>}
 */
const live = new Set();

/**
 * Reports an error thrown by a handler that has no caller to return it to (broadcast, event,
 * tunnel and drop handlers) as a process warning: `process.on('warning', w => ...)` receives it
 * with `w.name === 'IrisHandlerWarning'`, `w.handler` (the handler kind) and `w.cause`.
 * @param {string} kind
 * @param {unknown} err
 */
function reportHandlerError(kind, err) {
  const warning = /** @type {Error & {code: string, handler: string}} */ (
    new Error(`iris ${kind} handler failed: ${faultText(err)}`, { cause: err })
  );
  warning.name = 'IrisHandlerWarning';
  warning.code = 'IRIS_HANDLER_ERROR';
  warning.handler = kind;
  process.emitWarning(warning);
}

/**
 * @param {unknown} err
 * @returns {string}
 */
function faultText(err) {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return Object.prototype.toString.call(err);
  }
}

/**
 * Runs `fn` as handler `kind`, then calls `onValue` with its (awaited) result or `onError` with
 * what it threw or rejected with.
 * @param {string} kind
 * @param {() => unknown} fn
 * @param {(value: unknown) => void} onValue
 * @param {(err: unknown) => void} onError
 */
function settle(kind, fn, onValue, onError) {
  let result;
  try {
    result = handlerContext.run(kind, fn);
  } catch (err) {
    onError(err);
    return;
  }
  if (result !== null && typeof result === 'object' && typeof (/** @type {any} */ (result).then) === 'function') {
    try {
      /** @type {PromiseLike<unknown>} */ (result).then(onValue, onError);
    } catch (err) {
      onError(err);
    }
  } else {
    onValue(result);
  }
}

/**
 * @param {(fault?: string | null, reply?: Buffer) => void} done
 * @param {unknown} reply
 */
function sendReply(done, reply) {
  let buffer;
  try {
    buffer = toBuffer('reply', reply);
  } catch (err) {
    done(`the request handler returned an invalid reply: ${faultText(err)}`);
    return;
  }
  done(null, buffer);
}

const SERVICE_METHODS = ['init', 'handleRequest', 'handleBroadcast', 'handleTunnel', 'handleDrop'];

/** Handler kinds as the native side numbers them. */
const KIND_NAMES = ['init', 'request', 'broadcast', 'tunnel', 'drop', 'event'];
const [INIT, REQUEST, BROADCAST, TUNNEL, DROP] = [0, 1, 2, 3, 4];

/**
 * The completion callback of native handler call `token`: `(fault?, reply?) => void`, to be called
 * exactly once, when the handler and its Promise have settled.
 * @param {number} token
 * @returns {(fault?: string | null, reply?: Buffer) => void}
 */
function completion(token) {
  return (fault, reply) => native.complete(token, fault ?? null, reply ?? null);
}

/**
 * Builds the native dispatch function of a service handler object.
 * @param {ServiceHandler} handler
 * @param {() => Service | undefined} service
 * @returns {(kind: number, arg: any, token: number) => void}
 */
function serviceDispatch(handler, service) {
  const h = /** @type {any} */ (handler);
  return (kind, arg, token) => {
    const done = completion(token);
    const name = KIND_NAMES[kind] || String(kind);
    const finish = () => done();
    const warn = (/** @type {unknown} */ err) => {
      reportHandlerError(name, err);
      done();
    };
    switch (kind) {
      case REQUEST:
        if (!h.handleRequest) return done('this service does not handle requests');
        return settle(name, () => h.handleRequest(arg), (reply) => sendReply(done, reply), (err) => done(faultText(err)));
      case BROADCAST:
        if (!h.handleBroadcast) return done();
        return settle(name, () => h.handleBroadcast(arg), finish, warn);
      case TUNNEL:
        if (!h.handleTunnel) return done();
        return settle(name, () => h.handleTunnel(new Tunnel(arg)), finish, warn);
      case INIT:
        if (!h.init) return done();
        return settle(name, () => h.init(new Connection(arg)), finish, (err) => done(faultText(err)));
      case DROP: {
        const current = service();
        if (current) live.delete(current);
        if (!h.handleDrop) return done();
        return settle(name, () => h.handleDrop(fromNative(new Error(arg))), finish, warn);
      }
      default:
        return done(`unknown handler kind ${name}`);
    }
  };
}

/**
 * @param {TopicHandler} handler
 * @returns {(kind: number, event: Buffer, token: number) => void}
 */
function topicDispatch(handler) {
  const handle = typeof handler === 'function' ? handler : handler.handleEvent.bind(handler);
  return (kind, event, token) => {
    const done = completion(token);
    settle('event', () => handle(event), () => done(), (err) => {
      reportHandlerError('event', err);
      done();
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Public API

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
class Connection {
  /** @type {any} */
  #native;
  /** @type {Set<string>} */
  #topics = new Set();

  /**
   * @param {any} nativeConnection
   * @hideconstructor
   */
  constructor(nativeConnection) {
    this.#native = nativeConnection;
  }

  /** A process-unique id of this connection, as used in the core's log fields. */
  get id() {
    return /** @type {number} */ (this.#native.id());
  }

  /** True until the connection starts closing. */
  isOpen() {
    return /** @type {boolean} */ (this.#native.isOpen());
  }

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
  request(cluster, request, timeout) {
    return call(() => this.#native.request(checkName('cluster', cluster), toBuffer('request', request),
      checkMillis('timeout', timeout)));
  }

  /**
   * Sends `message` to every member of `cluster` (best effort, no reply).
   * @param {string} cluster
   * @param {Payload} message must not be empty
   * @returns {Promise<void>}
   */
  broadcast(cluster, message) {
    return call(() => this.#native.broadcast(checkName('cluster', cluster), toBuffer('message', message)));
  }

  /**
   * Sends `event` to every subscriber of `topic` (best effort).
   * @param {string} topic
   * @param {Payload} event must not be empty
   * @returns {Promise<void>}
   */
  publish(topic, event) {
    return call(() => this.#native.publish(checkName('topic', topic), toBuffer('event', event)));
  }

  /**
   * Subscribes to `topic`: every event published to it runs `handler` on the JavaScript thread,
   * within `limits`. Subscribing twice to one topic rejects with {@link InvalidArgumentError}.
   * While subscribed, the process stays alive.
   * @param {string} topic
   * @param {TopicHandler} handler
   * @param {TopicLimits} [limits]
   * @returns {Promise<void>}
   */
  subscribe(topic, handler, limits) {
    return call(async () => {
      const name = checkName('topic', topic);
      if (typeof handler !== 'function' && typeof handler?.handleEvent !== 'function') {
        throw new InvalidArgumentError('the handler must be a function or an object with a handleEvent method');
      }
      const [threads, memory] = readLimits(limits, ['eventThreads', 'eventMemory']);
      await this.#native.subscribe(name, topicDispatch(handler), threads, memory);
      this.#topics.add(name);
      live.add(this);
    });
  }

  /**
   * Ends the subscription to `topic`; events already queued for it are dropped. Unsubscribing
   * from a topic not subscribed rejects with {@link InvalidArgumentError}.
   * @param {string} topic
   * @returns {Promise<void>}
   */
  unsubscribe(topic) {
    return call(async () => {
      const name = checkName('topic', topic);
      try {
        await this.#native.unsubscribe(name);
      } finally {
        if (this.#topics.delete(name) && this.#topics.size === 0) live.delete(this);
      }
    });
  }

  /**
   * Opens a tunnel to one member of `cluster`, waiting at most `timeout` ms for it to accept.
   * @param {string} cluster
   * @param {number} timeout milliseconds, at least 1
   * @returns {Promise<Tunnel>}
   */
  tunnel(cluster, timeout) {
    return call(async () => new Tunnel(await this.#native.tunnel(checkName('cluster', cluster),
      checkMillis('timeout', timeout))));
  }

  /**
   * Closes the connection gracefully; pending calls reject with {@link ClosedError}, and every
   * later call too. Closing twice is fine. Called from inside a handler it resolves as soon as the
   * close has started (waiting would wait for the handler itself).
   * @returns {Promise<void>}
   */
  close() {
    this.#topics.clear();
    live.delete(this);
    return call(() => this.#native.close(handlerContext.getStore() === undefined));
  }
}

/**
 * One end of a tunnel: an ordered, flow-controlled stream of messages. Send and receive may run
 * concurrently. A tunnel given to `handleTunnel` is closed once that handler has finished.
 */
class Tunnel {
  /** @type {any} */
  #native;

  /**
   * @param {any} nativeTunnel
   * @hideconstructor
   */
  constructor(nativeTunnel) {
    this.#native = nativeTunnel;
  }

  /** The tunnel's id on its connection (for logs). */
  get id() {
    return /** @type {number} */ (this.#native.id());
  }

  /**
   * Sends one message, waiting for flow-control allowance as needed. On a timeout part of the
   * message may have been sent; the receiver discards such an incomplete message.
   * @param {Payload} message must not be empty
   * @param {number} [timeout] milliseconds for the whole message; 0 or omitted = no deadline
   * @returns {Promise<void>}
   */
  send(message, timeout) {
    return call(() => this.#native.send(toBuffer('message', message), checkMillis('timeout', timeout, 0)));
  }

  /**
   * Resolves to the next message. Messages that arrived before the tunnel closed are still
   * returned; after them, it rejects with {@link ClosedError}.
   * @param {number} [timeout] milliseconds; 0 or omitted = no deadline
   * @returns {Promise<Buffer>}
   */
  recv(timeout) {
    return call(() => this.#native.recv(checkMillis('timeout', timeout, 0)));
  }

  /**
   * Closes the tunnel and waits briefly for the node to confirm. Closing twice is fine.
   * @returns {Promise<void>}
   */
  close() {
    return call(() => this.#native.close());
  }
}

/**
 * A registered member of a cluster. It keeps the process alive until {@link Service#unregister}
 * (or until the node drops it).
 */
class Service {
  /** @type {any} */
  #native;
  /** @type {Connection | undefined} */
  #connection;

  /**
   * @param {any} nativeService
   * @hideconstructor
   */
  constructor(nativeService) {
    this.#native = nativeService;
  }

  /** The service's own connection, usable as a client too. */
  get connection() {
    if (!this.#connection) this.#connection = new Connection(this.#native.connection());
    return this.#connection;
  }

  /**
   * Leaves the cluster gracefully: the node stops routing to this member first, requests already
   * delivered are answered, then the connection closes. Unregistering twice is fine. Called from
   * inside a handler it resolves as soon as leaving has started.
   * @returns {Promise<void>}
   */
  unregister() {
    live.delete(this);
    return call(() => this.#native.unregister(handlerContext.getStore() === undefined));
  }
}

/**
 * Connects to the Iris node listening on `port` of this host, as a plain client.
 * @param {number} port
 * @returns {Promise<Connection>}
 */
function connect(port) {
  return call(async () => new Connection(await native.connect(checkPort(port))));
}

/**
 * Registers `handler` as a member of `cluster` at the node on `port`. Resolves once the
 * handler's `init` has finished; rejects with {@link InvalidArgumentError} if `init` threw.
 * @param {number} port
 * @param {string} cluster
 * @param {ServiceHandler} handler
 * @param {ServiceLimits} [limits]
 * @returns {Promise<Service>}
 */
function register(port, cluster, handler, limits) {
  return call(async () => {
    if (handler === null || typeof handler !== 'object') {
      throw new InvalidArgumentError('the service handler must be an object');
    }
    for (const method of SERVICE_METHODS) {
      const value = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (handler))[method];
      if (value !== undefined && typeof value !== 'function') {
        throw new InvalidArgumentError(`the service handler's ${method} must be a function`);
      }
    }
    const numbers = readLimits(limits, ['requestThreads', 'requestMemory', 'broadcastThreads', 'broadcastMemory']);
    /** @type {Service | undefined} */
    let service;
    const dispatch = serviceDispatch(handler, () => service);
    service = new Service(await native.register(checkPort(port), checkName('cluster', cluster), dispatch, numbers));
    live.add(service);
    return service;
  });
}

/**
 * The stable codes of every error kind the core has (for tests and tooling).
 * @returns {string[]}
 */
function errorCodes() {
  return native.errorKinds();
}

module.exports = {
  connect,
  register,
  errorCodes,
  Connection,
  Service,
  Tunnel,
  IrisError,
  TimeoutError,
  ClosedError,
  RemoteError,
  InvalidArgumentError,
  ProtocolError,
  IoError,
  ERROR_CLASSES,
};
// For the package's own tests (the exhaustive error-mapping check); not part of the API.
Object.defineProperty(module.exports, Symbol.for('iris.internals'), { value: { native, fromNative } });
