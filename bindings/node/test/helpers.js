'use strict';
// Test fixtures: a private iris node on a free loopback port, started per test file.

const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const repo = path.resolve(__dirname, '..', '..', '..');
const irisBin = process.env.IRIS_BIN || path.join(repo, 'target', 'debug', 'iris');
const peerBin = process.env.IRIS_PEER_BIN || path.join(path.dirname(irisBin), 'iris-peer');

/**
 * Starts `iris --dev --port 0` and resolves once it listens.
 * @returns {Promise<{port: number, stop: () => Promise<void>}>}
 */
function startNode() {
  return new Promise((resolve, reject) => {
    const child = spawn(irisBin, ['--dev', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the iris node did not start in time; stderr:\n${stderr}`));
    }, 20000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the iris node exited with ${code}; stderr:\n${stderr}`));
    });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^iris relay listening on port (\d+)$/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      const stop = () => new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.removeAllListeners('exit');
        child.on('exit', () => done());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      });
      resolve({ port: Number(m[1]), stop });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `predicate` until it is true or `ms` pass.
 * @param {() => boolean} predicate
 */
async function waitFor(predicate, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

module.exports = { startNode, sleep, waitFor, repo, irisBin, peerBin };
