'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const iris = require('..');
const { startNode, waitFor } = require('./helpers');

describe('tunnels', () => {
  let node;
  let conn;
  let service;
  const served = [];
  before(async () => {
    node = await startNode();
    conn = await iris.connect(node.port);
    service = await iris.register(node.port, 'tun', {
      async handleTunnel(tunnel) {
        served.push(tunnel);
        for (;;) {
          let message;
          try {
            message = await tunnel.recv(20000);
          } catch (err) {
            if (err instanceof iris.ClosedError) return;
            throw err;
          }
          if (message.toString() === 'three and bye') {
            for (const m of ['one', 'two', 'three']) await tunnel.send(m, 20000);
            return; // the binding closes the tunnel once this handler has finished
          }
          if (message.toString() === 'big?') {
            await tunnel.send(crypto.createHash('sha256').update('seed').digest().toString('hex').repeat(65536), 20000);
          } else {
            await tunnel.send(message, 20000);
          }
        }
      },
    });
  });
  after(async () => {
    await conn.close();
    await service.unregister();
    await node.stop();
  });

  it('echoes messages in order', async () => {
    const tunnel = await conn.tunnel('tun', 5000);
    assert.equal(typeof tunnel.id, 'number');
    for (let i = 0; i < 50; i++) await tunnel.send(`m${i}`, 5000);
    for (let i = 0; i < 50; i++) assert.equal((await tunnel.recv(5000)).toString(), `m${i}`);
    await tunnel.close();
  });

  it('carries a 4 MiB message both ways intact', async () => {
    const tunnel = await conn.tunnel('tun', 5000);
    const big = crypto.randomBytes(4 << 20);
    await tunnel.send(big, 30000);
    const back = await tunnel.recv(30000);
    assert.equal(back.length, big.length);
    assert.ok(back.equals(big));
    await tunnel.send('big?', 5000);
    const fromService = await tunnel.recv(30000);
    assert.equal(fromService.length, 64 * 65536);
    await tunnel.close();
  });

  it('times out a recv with nothing to read, and a tunnel to a cluster without members', async () => {
    const tunnel = await conn.tunnel('tun', 5000);
    await assert.rejects(tunnel.recv(100), iris.TimeoutError);
    await tunnel.close();
    await assert.rejects(conn.tunnel('nobody', 200), iris.TimeoutError);
  });

  it('closes a served tunnel when its handler finishes; buffered messages stay readable', async () => {
    const tunnel = await conn.tunnel('tun', 5000);
    await tunnel.send('three and bye', 5000);
    await new Promise((r) => setTimeout(r, 300));
    for (const m of ['one', 'two', 'three']) assert.equal((await tunnel.recv(5000)).toString(), m);
    await assert.rejects(tunnel.recv(5000), iris.ClosedError);
    await assert.rejects(tunnel.send('more', 1000), iris.ClosedError);
    await tunnel.close();
  });

  it('fails with CLOSED after close, on both ends', async () => {
    const before = served.length;
    const tunnel = await conn.tunnel('tun', 5000);
    await tunnel.send('ping', 5000);
    assert.equal((await tunnel.recv(5000)).toString(), 'ping');
    await tunnel.close();
    await tunnel.close();
    await assert.rejects(tunnel.send('x', 1000), iris.ClosedError);
    await assert.rejects(tunnel.recv(1000), iris.ClosedError);
    await waitFor(() => served.length > before, 5000, 'the service side');
    await assert.rejects(served[served.length - 1].recv(5000), iris.ClosedError);
  });
});
