'use strict';
// The README quickstart is examples/quickstart.js verbatim, and it runs: against a test node, with
// `require('iris')` resolved to this package, printing what it promises and exiting by itself.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNode } = require('./helpers');

const pkg = path.resolve(__dirname, '..');
const quickstart = path.join(pkg, 'examples', 'quickstart.js');

describe('README quickstart', () => {
  let node;
  let modules;
  before(async () => {
    node = await startNode();
    modules = fs.mkdtempSync(path.join(os.tmpdir(), 'iris-quickstart-'));
    fs.symlinkSync(pkg, path.join(modules, 'iris'), 'dir');
  });
  after(async () => {
    fs.rmSync(modules, { recursive: true, force: true });
    await node.stop();
  });

  it('is the README snippet, verbatim', () => {
    const readme = fs.readFileSync(path.join(pkg, 'README.md'), 'utf8');
    const m = /<!-- quickstart: examples\/quickstart\.js[^>]*-->\n```js\n([\s\S]*?)```/.exec(readme);
    assert.ok(m, 'the README has the quickstart block');
    assert.equal(m[1], fs.readFileSync(quickstart, 'utf8'));
  });

  it('runs against a node and exits on its own', async () => {
    const { code, out } = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [quickstart], {
        env: { ...process.env, IRIS_PORT: String(node.port), NODE_PATH: modules },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the quickstart did not exit in time:\n${output}`));
      }, 30000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve({ code: exitCode, out: output });
      });
    });
    assert.equal(code, 0, out);
    assert.match(out, /^reply: echo: hi$/m);
    assert.match(out, /^event: hello$/m);
    assert.match(out, /^tunnel: x$/m);
    assert.match(out, /^no member answered: TIMEOUT$/m);
  });
});
