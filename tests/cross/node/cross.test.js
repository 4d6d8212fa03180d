'use strict';
// Cross-language: a Node.js service answered to the Rust peer (`iris-peer request|tunnel`), and a
// Rust service (`iris-peer serve`) answering a Node.js client, through one iris node.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const pkg = path.resolve(__dirname, '..', '..', '..', 'bindings', 'node');
const iris = require(pkg);
const { startNode, peerBin } = require(path.join(pkg, 'test', 'helpers.js'));

/** Runs `iris-peer` to completion: resolves with exit code, stdout and stderr. */
function peer(...args) {
  return new Promise((resolve) => {
    execFile(peerBin, args.map(String), { timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

describe('cross-language with the Rust peer', () => {
  let node;
  let service;
  let rust;
  before(async () => {
    node = await startNode();
    service = await iris.register(node.port, 'node-echo', {
      handleRequest(request) {
        if (request.toString() === 'fail') throw new Error('node service refuses');
        return Buffer.concat([Buffer.from('node:'), request]);
      },
      async handleTunnel(tunnel) {
        const message = await tunnel.recv(10000);
        await tunnel.send(Buffer.concat([Buffer.from('node-tunnel:'), message]), 10000);
      },
    });
    rust = spawn(peerBin, ['serve', node.port, 'rust-echo', 'rust:'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      rust.on('exit', (code) => reject(new Error(`iris-peer serve exited with ${code}`)));
      readline.createInterface({ input: rust.stdout }).on('line', (line) => {
        if (line === 'ready') resolve();
      });
    });
  });
  after(async () => {
    rust.removeAllListeners('exit');
    const exited = new Promise((r) => rust.on('exit', r));
    rust.stdin.end();
    await exited;
    await service.unregister();
    await node.stop();
  });

  it('a Rust client gets replies from a Node.js service', async () => {
    const ok = await peer('request', node.port, 'node-echo', 'hello');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'node:hello');
  });

  it('a Rust client gets a Node.js service fault as REMOTE', async () => {
    const failed = await peer('request', node.port, 'node-echo', 'fail');
    assert.notEqual(failed.code, 0);
    assert.equal(failed.stderr, 'REMOTE: node service refuses');
  });

  it('a Rust client tunnels to a Node.js service', async () => {
    const r = await peer('tunnel', node.port, 'node-echo', 'through');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'node-tunnel:through');
  });

  it('a Node.js client gets replies and faults from a Rust service', async () => {
    const conn = await iris.connect(node.port);
    try {
      assert.equal((await conn.request('rust-echo', 'hi', 5000)).toString(), 'rust:hi');
      await assert.rejects(conn.request('rust-echo', 'fail', 5000), (err) => {
        assert.ok(err instanceof iris.RemoteError);
        assert.equal(err.message, 'rust peer refuses');
        return true;
      });
    } finally {
      await conn.close();
    }
  });

  it('a Node.js client tunnels to a Rust service', async () => {
    const conn = await iris.connect(node.port);
    try {
      const tunnel = await conn.tunnel('rust-echo', 5000);
      await tunnel.send('one', 5000);
      await tunnel.send('two', 5000);
      assert.equal((await tunnel.recv(5000)).toString(), 'rust:one');
      assert.equal((await tunnel.recv(5000)).toString(), 'rust:two');
      await tunnel.close();
    } finally {
      await conn.close();
    }
  });
});
