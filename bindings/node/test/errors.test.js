'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const iris = require('..');
const { startNode } = require('./helpers');

const { native, fromNative } = iris[Symbol.for('iris.internals')];

describe('errors', () => {
  it('maps every core error kind onto an exported class with its stable code', () => {
    const codes = iris.errorCodes();
    assert.deepEqual(codes, ['TIMEOUT', 'CLOSED', 'REMOTE', 'INVALID_ARGUMENT', 'PROTOCOL', 'IO']);
    const expected = {
      TIMEOUT: iris.TimeoutError,
      CLOSED: iris.ClosedError,
      REMOTE: iris.RemoteError,
      INVALID_ARGUMENT: iris.InvalidArgumentError,
      PROTOCOL: iris.ProtocolError,
      IO: iris.IoError,
    };
    for (const code of codes) {
      let thrown;
      try {
        native.errorSample(code, `sample ${code}`);
      } catch (err) {
        thrown = fromNative(err);
      }
      assert.ok(thrown instanceof expected[code], `${code} maps to ${expected[code].name}`);
      assert.ok(thrown instanceof iris.IrisError);
      assert.ok(thrown instanceof Error);
      assert.equal(thrown.code, code);
      assert.equal(thrown.message, `sample ${code}`);
      assert.equal(thrown.name, expected[code].name);
      assert.equal(iris.ERROR_CLASSES[code], expected[code]);
    }
  });

  it('rejects wrong argument types with INVALID_ARGUMENT before anything is sent', async () => {
    await assert.rejects(iris.connect('55555'), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(iris.connect(70000), iris.InvalidArgumentError);
    await assert.rejects(iris.register(1, 'x', null), iris.InvalidArgumentError);
    await assert.rejects(iris.register(1, 'x', { handleRequest: 'nope' }), iris.InvalidArgumentError);
    await assert.rejects(iris.register(1, 'x', {}, { requestThreds: 1 }), /unknown limit/);
    await assert.rejects(iris.register(1, 'x', {}, { requestThreads: -1 }), iris.InvalidArgumentError);
  });

  it('reports a missing node as IO', async () => {
    const server = net.createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address();
    await new Promise((r) => server.close(r));
    await assert.rejects(iris.connect(port), (err) => err instanceof iris.IoError && err.code === 'IO');
  });

  it('reports a peer that is not an iris node as PROTOCOL', async () => {
    const server = net.createServer((socket) => socket.end(Buffer.from([0x7f, 0x7f, 0x7f])));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try {
      await assert.rejects(iris.connect(server.address().port), (err) => err.code === 'PROTOCOL');
    } finally {
      server.close();
    }
  });

  describe('with a node', () => {
    let node;
    let conn;
    before(async () => {
      node = await startNode();
      conn = await iris.connect(node.port);
    });
    after(async () => {
      await conn.close();
      await node.stop();
    });

    it('rejects what the core refuses with INVALID_ARGUMENT', async () => {
      await assert.rejects(conn.request('', 'x', 1000), iris.InvalidArgumentError);
      await assert.rejects(conn.request('echo', Buffer.alloc(0), 1000), iris.InvalidArgumentError);
      await assert.rejects(conn.request('echo', 'x', 0), iris.InvalidArgumentError);
      await assert.rejects(conn.request('echo', 'x', -5), iris.InvalidArgumentError);
      await assert.rejects(conn.request('echo', 'x'), iris.InvalidArgumentError);
      await assert.rejects(conn.request('echo', 42, 1000), iris.InvalidArgumentError);
      await assert.rejects(conn.broadcast('', 'x'), iris.InvalidArgumentError);
      await assert.rejects(conn.publish('news', ''), iris.InvalidArgumentError);
      await assert.rejects(conn.tunnel('echo', 0), iris.InvalidArgumentError);
      await assert.rejects(conn.subscribe('news', 'not a handler'), iris.InvalidArgumentError);
      await assert.rejects(conn.subscribe('', () => {}), iris.InvalidArgumentError);
      assert.ok(conn.isOpen());
    });
  });
});
