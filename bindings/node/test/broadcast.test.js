'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const iris = require('..');
const { startNode, waitFor } = require('./helpers');

describe('broadcast', () => {
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

  it('reaches every member of the cluster', async () => {
    const got = { a: [], b: [] };
    const a = await iris.register(node.port, 'room', { handleBroadcast: (m) => got.a.push(m.toString()) });
    const b = await iris.register(node.port, 'room', { handleBroadcast: async (m) => { got.b.push(m.toString()); } });
    try {
      await conn.broadcast('room', Buffer.from('to all'));
      await waitFor(() => got.a.length === 1 && got.b.length === 1, 10000, 'both members');
      assert.deepEqual(got, { a: ['to all'], b: ['to all'] });
    } finally {
      await a.unregister();
      await b.unregister();
    }
  });

  it('reports a throwing broadcast handler as a process warning, and keeps serving', async () => {
    const warnings = [];
    const onWarning = (w) => {
      if (w.name === 'IrisHandlerWarning') warnings.push(w);
    };
    process.on('warning', onWarning);
    let calls = 0;
    const s = await iris.register(node.port, 'grumpy', {
      handleBroadcast(m) {
        calls++;
        if (m.toString() === 'boom') throw new Error('broadcast went boom');
      },
    });
    try {
      await conn.broadcast('grumpy', 'boom');
      await waitFor(() => warnings.length === 1, 10000, 'the warning');
      assert.equal(warnings[0].code, 'IRIS_HANDLER_ERROR');
      assert.equal(warnings[0].handler, 'broadcast');
      assert.match(warnings[0].message, /broadcast went boom/);
      assert.equal(warnings[0].cause.message, 'broadcast went boom');
      await conn.broadcast('grumpy', 'fine');
      await waitFor(() => calls === 2, 10000, 'the second broadcast');
    } finally {
      process.off('warning', onWarning);
      await s.unregister();
    }
  });
});
