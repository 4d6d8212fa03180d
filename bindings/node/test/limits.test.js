'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const iris = require('..');
const { startNode, sleep, waitFor } = require('./helpers');

describe('limits', () => {
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

  it('requestThreads bounds how many request handlers (and their Promises) are in flight', async () => {
    let running = 0;
    let peak = 0;
    const s = await iris.register(node.port, 'threads', {
      async handleRequest(r) {
        running++;
        peak = Math.max(peak, running);
        await sleep(100);
        running--;
        return r;
      },
    }, { requestThreads: 2 });
    try {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => conn.request('threads', `${i}`, 20000)));
      replies.forEach((r, i) => assert.equal(r.toString(), `${i}`));
      assert.equal(peak, 2);
    } finally {
      await s.unregister();
    }
  });

  it('requestMemory drops a request that does not fit; its caller times out', async () => {
    const seen = [];
    const s = await iris.register(node.port, 'memory', {
      handleRequest(r) {
        seen.push(r.toString());
        return r;
      },
    }, { requestThreads: 1, requestMemory: 10 });
    try {
      assert.equal((await conn.request('memory', '0123456789', 5000)).toString(), '0123456789');
      await assert.rejects(conn.request('memory', '0123456789A', 300), iris.TimeoutError);
      assert.deepEqual(seen, ['0123456789']);
    } finally {
      await s.unregister();
    }
  });

  it('drops a queued request whose timeout expired before a handler took it', async () => {
    const seen = [];
    const s = await iris.register(node.port, 'expiry', {
      async handleRequest(r) {
        seen.push(r.toString());
        if (r.toString() === 'slow') await sleep(600);
        return r;
      },
    }, { requestThreads: 1 });
    try {
      const slow = conn.request('expiry', 'slow', 10000);
      await waitFor(() => seen.includes('slow'), 10000, 'the slow request to start');
      await assert.rejects(conn.request('expiry', 'late', 100), iris.TimeoutError);
      assert.equal((await slow).toString(), 'slow');
      assert.equal((await conn.request('expiry', 'after', 5000)).toString(), 'after');
      assert.deepEqual(seen, ['slow', 'after']);
    } finally {
      await s.unregister();
    }
  });

  it('broadcastThreads bounds how many broadcast handlers are in flight', async () => {
    let running = 0;
    let peak = 0;
    let done = 0;
    const s = await iris.register(node.port, 'bthreads', {
      async handleBroadcast() {
        running++;
        peak = Math.max(peak, running);
        await sleep(20);
        running--;
        done++;
      },
    }, { broadcastThreads: 1 });
    try {
      for (let i = 0; i < 6; i++) await conn.broadcast('bthreads', `${i}`);
      await waitFor(() => done === 6, 10000, 'all broadcasts handled');
      assert.equal(peak, 1);
    } finally {
      await s.unregister();
    }
  });
});
