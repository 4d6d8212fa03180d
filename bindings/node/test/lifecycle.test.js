'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const iris = require('..');
const { startNode, sleep, waitFor } = require('./helpers');

describe('lifecycle', () => {
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

  it('runs init once, before any other handler, with a usable connection', async () => {
    const order = [];
    let initConnection;
    const s = await iris.register(node.port, 'init-order', {
      async init(connection) {
        initConnection = connection;
        order.push('init-start');
        await sleep(100);
        order.push('init-end');
      },
      handleRequest(r) {
        order.push('request');
        return r;
      },
    });
    try {
      assert.deepEqual(order, ['init-start', 'init-end']);
      assert.ok(initConnection instanceof iris.Connection);
      assert.equal(typeof initConnection.id, 'number');
      await conn.request('init-order', 'x', 5000);
      assert.deepEqual(order, ['init-start', 'init-end', 'request']);
    } finally {
      await s.unregister();
    }
  });

  it('rejects the registration when init throws, and withdraws the member', async () => {
    await assert.rejects(
      iris.register(node.port, 'bad-init', { init() { throw new Error('bad config'); }, handleRequest: (r) => r }),
      (err) => err instanceof iris.InvalidArgumentError && /bad config/.test(err.message),
    );
    await assert.rejects(conn.request('bad-init', 'x', 300), iris.TimeoutError);
  });

  it('fails every call after close with CLOSED, and closing twice is fine', async () => {
    const c = await iris.connect(node.port);
    assert.ok(c.isOpen());
    await c.close();
    await c.close();
    assert.equal(c.isOpen(), false);
    await assert.rejects(c.request('x', 'y', 1000), iris.ClosedError);
    await assert.rejects(c.broadcast('x', 'y'), iris.ClosedError);
    await assert.rejects(c.publish('x', 'y'), iris.ClosedError);
    await assert.rejects(c.subscribe('x', () => {}), iris.ClosedError);
    await assert.rejects(c.tunnel('x', 1000), iris.ClosedError);
  });

  it('releases a pending request with CLOSED when its connection closes', async () => {
    const s = await iris.register(node.port, 'slow', { handleRequest: async (r) => { await sleep(1500); return r; } });
    const c = await iris.connect(node.port);
    try {
      const pending = c.request('slow', 'x', 10000);
      await sleep(100);
      const closing = c.close();
      await assert.rejects(pending, iris.ClosedError);
      await closing;
    } finally {
      await s.unregister();
    }
  });

  it('unregisters: later requests to the cluster time out; unregistering twice is fine', async () => {
    const s = await iris.register(node.port, 'leaving', { handleRequest: (r) => r });
    assert.equal((await conn.request('leaving', 'x', 5000)).toString(), 'x');
    await s.unregister();
    await s.unregister();
    await assert.rejects(conn.request('leaving', 'x', 300), iris.TimeoutError);
  });

  it('does not deadlock when a handler unregisters its own service', async () => {
    let service;
    let unregistered = false;
    service = await iris.register(node.port, 'self-close', {
      async handleRequest() {
        await service.unregister();
        unregistered = true;
        return 'bye';
      },
    });
    const start = Date.now();
    assert.equal((await conn.request('self-close', 'x', 5000)).toString(), 'bye');
    assert.ok(unregistered);
    await assert.rejects(conn.request('self-close', 'x', 300), iris.TimeoutError);
    assert.ok(Date.now() - start < 5000, 'no close wait');
  });

  it('tells handleDrop when the node goes away', async () => {
    const own = await startNode();
    let dropped;
    const s = await iris.register(own.port, 'doomed', { handleDrop: (err) => { dropped = err; } });
    await own.stop();
    await waitFor(() => dropped !== undefined, 10000, 'handleDrop');
    assert.ok(dropped instanceof iris.IrisError);
    assert.ok(['CLOSED', 'IO'].includes(dropped.code), dropped.code);
    await s.unregister();
  });
});
