'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const iris = require('..');
const { startNode, sleep, waitFor } = require('./helpers');

describe('publish/subscribe', () => {
  let node;
  let publisher;
  let subscriber;
  before(async () => {
    node = await startNode();
    publisher = await iris.connect(node.port);
    subscriber = await iris.connect(node.port);
  });
  after(async () => {
    await publisher.close();
    await subscriber.close();
    await node.stop();
  });

  it('delivers events to function and object handlers until unsubscribed', async () => {
    const fn = [];
    const obj = [];
    await subscriber.subscribe('news', (event) => fn.push(event.toString()));
    await publisher.subscribe('news', { handleEvent(event) { obj.push(event.toString()); } }, { eventThreads: 1 });
    await sleep(100);
    await publisher.publish('news', Buffer.from('hello'));
    await waitFor(() => fn.length === 1 && obj.length === 1, 10000, 'both subscribers');
    assert.deepEqual(fn, ['hello']);
    assert.deepEqual(obj, ['hello']);
    await subscriber.unsubscribe('news');
    await publisher.unsubscribe('news');
    await sleep(100);
    await publisher.publish('news', 'nobody listens');
    await sleep(200);
    assert.deepEqual(fn, ['hello']);
  });

  it('rejects a duplicate subscription and unsubscribing an unknown topic', async () => {
    await subscriber.subscribe('dup', () => {});
    await assert.rejects(subscriber.subscribe('dup', () => {}), iris.InvalidArgumentError);
    await subscriber.unsubscribe('dup');
    await assert.rejects(subscriber.unsubscribe('dup'), iris.InvalidArgumentError);
  });

  it('eventThreads bounds event handlers in flight, and async handlers are awaited', async () => {
    let running = 0;
    let peak = 0;
    let done = 0;
    await subscriber.subscribe('busy', async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(50);
      running--;
      done++;
    }, { eventThreads: 2 });
    await sleep(100);
    for (let i = 0; i < 10; i++) await publisher.publish('busy', `${i}`);
    await waitFor(() => done === 10, 10000, 'all events');
    assert.equal(peak, 2);
    await subscriber.unsubscribe('busy');
  });

  it('reports a throwing event handler as a process warning', async () => {
    const warnings = [];
    const onWarning = (w) => {
      if (w.name === 'IrisHandlerWarning') warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      await subscriber.subscribe('bad', () => {
        throw new Error('event went boom');
      });
      await sleep(100);
      await publisher.publish('bad', 'x');
      await waitFor(() => warnings.length === 1, 10000, 'the warning');
      assert.equal(warnings[0].handler, 'event');
      assert.equal(warnings[0].cause.message, 'event went boom');
      await subscriber.unsubscribe('bad');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
