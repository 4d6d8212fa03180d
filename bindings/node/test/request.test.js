'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const iris = require('..');
const { startNode, sleep } = require('./helpers');

describe('request/reply', () => {
  let node;
  let conn;
  const services = [];
  before(async () => {
    node = await startNode();
    conn = await iris.connect(node.port);
    services.push(await iris.register(node.port, 'echo', {
      async handleRequest(request) {
        const text = request.toString();
        if (text === 'fail') throw new Error('echo refuses');
        if (text === 'reject-string') return Promise.reject('plain rejection');
        if (text === 'sync') return 'sync reply';
        if (text === 'bad-reply') return 42;
        await sleep(1);
        return Buffer.concat([Buffer.from('echo:'), request]);
      },
    }));
  });
  after(async () => {
    await conn.close();
    for (const s of services) await s.unregister();
    await node.stop();
  });

  it('returns the reply as a Buffer', async () => {
    const reply = await conn.request('echo', Buffer.from('hi'), 5000);
    assert.ok(Buffer.isBuffer(reply));
    assert.equal(reply.toString(), 'echo:hi');
    assert.equal((await conn.request('echo', new Uint8Array([0x61]), 5000)).toString(), 'echo:a');
    assert.equal((await conn.request('echo', 'sync', 5000)).toString(), 'sync reply');
  });

  it('turns a thrown error or a rejection into a RemoteError with the fault text', async () => {
    await assert.rejects(conn.request('echo', 'fail', 5000), (err) => {
      assert.ok(err instanceof iris.RemoteError);
      assert.equal(err.code, 'REMOTE');
      assert.equal(err.message, 'echo refuses');
      return true;
    });
    await assert.rejects(conn.request('echo', 'reject-string', 5000), { code: 'REMOTE', message: 'plain rejection' });
    await assert.rejects(conn.request('echo', 'bad-reply', 5000), { code: 'REMOTE', message: /invalid reply/ });
  });

  it('times out when the cluster has no member', async () => {
    const start = Date.now();
    await assert.rejects(conn.request('nobody', 'x', 200), (err) => err instanceof iris.TimeoutError && err.code === 'TIMEOUT');
    assert.ok(Date.now() - start >= 150, 'the timeout was honoured');
  });

  it('faults when the service has no request handler', async () => {
    const s = await iris.register(node.port, 'no-requests', {});
    try {
      await assert.rejects(conn.request('no-requests', 'x', 5000), { code: 'REMOTE', message: /does not handle requests/ });
    } finally {
      await s.unregister();
    }
  });

  it('answers 500 concurrent requests, each with its own reply', async () => {
    const replies = await Promise.all(
      Array.from({ length: 500 }, (_, i) => conn.request('echo', `n${i}`, 30000)),
    );
    replies.forEach((reply, i) => assert.equal(reply.toString(), `echo:n${i}`));
  });

  it('balances requests across the members of a cluster', async () => {
    const seen = { a: 0, b: 0 };
    const a = await iris.register(node.port, 'balanced', { handleRequest: () => { seen.a++; return 'a'; } });
    const b = await iris.register(node.port, 'balanced', { handleRequest: () => { seen.b++; return 'b'; } });
    try {
      await Promise.all(Array.from({ length: 100 }, () => conn.request('balanced', 'x', 10000)));
      assert.equal(seen.a + seen.b, 100);
      assert.ok(seen.a > 0 && seen.b > 0, `both members served: ${JSON.stringify(seen)}`);
    } finally {
      await a.unregister();
      await b.unregister();
    }
  });

  it('lets the service connection act as a client', async () => {
    const s = services[0];
    assert.equal((await s.connection.request('echo', 'self', 5000)).toString(), 'echo:self');
  });
});
