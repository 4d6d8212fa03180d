'use strict';
// The event loop: an idle client must not keep the process alive; a service or subscription does,
// until it is closed. Each case runs a small script in a child process and watches it exit.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { startNode } = require('./helpers');

const pkg = path.resolve(__dirname, '..');

/** Runs `body` (async, with `iris` and `port` in scope); resolves with exit code, output, duration. */
function runScript(port, body, timeoutMs = 20000) {
  const source = `const iris = require(${JSON.stringify(pkg)}); const port = ${port};
    const log = (...a) => console.log(...a);
    (async () => { ${body} })().catch((e) => { console.error('FAILED', e); process.exitCode = 1; });`;
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the script did not exit within ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - start });
    });
  });
}

describe('event-loop liveness', () => {
  let node;
  before(async () => {
    node = await startNode();
  });
  after(() => node.stop());

  it('an idle, unclosed client connection lets the process exit', async () => {
    const r = await runScript(node.port, `const c = await iris.connect(port); log('connected', c.isOpen());`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /connected true/);
  });

  it('a registered service keeps the process alive until it is unregistered', async () => {
    const r = await runScript(node.port, `
      const s = await iris.register(port, 'live', { handleRequest: (x) => x });
      const c = await iris.connect(port);
      const t0 = Date.now();
      setTimeout(async () => {
        log('reply', (await c.request('live', 'still here', 5000)).toString());
        await c.close();
        await s.unregister();
        log('unregistered after', Date.now() - t0 >= 1000);
      }, 1000).unref();`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /reply still here/);
    assert.match(r.out, /unregistered after true/);
  });

  it('a registration whose init failed does not keep the process alive', async () => {
    const r = await runScript(node.port, `
      await iris.register(port, 'fails', { init() { throw new Error('no'); } }).catch((e) => log('rejected', e.code));`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /rejected INVALID_ARGUMENT/);
  });

  it('a subscription keeps the process alive until unsubscribed; close exits', async () => {
    const r = await runScript(node.port, `
      const c = await iris.connect(port);
      await c.subscribe('tick', () => {});
      setTimeout(async () => { await c.unsubscribe('tick').catch(() => {}); log('unsubscribed'); }, 800).unref();
      const c2 = await iris.connect(port);
      await c2.subscribe('tock', () => {});
      setTimeout(async () => { await c2.close(); log('closed'); }, 1200).unref();`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /unsubscribed/);
    assert.match(r.out, /closed/);
  });
});
