'use strict';
// Benchmark of the Node.js binding, against an iris node it starts itself (IRIS_BIN, default
// target/release/iris if built, else target/debug/iris). 1-byte messages.
//   - request round-trip latency, 1 in flight
//   - request throughput, 128 in flight
//   - publish rate with one subscriber, and the rate the subscriber receives them
// The echo service runs in a separate Node.js process; BENCH_SERVICE=rust uses iris-peer instead.
// Run `npm run build` (release addon) first.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const repo = path.resolve(__dirname, '..', '..', '..');
if (!process.env.IRIS_BIN) {
  const release = path.join(repo, 'target', 'release', 'iris');
  process.env.IRIS_BIN = fs.existsSync(release) ? release : path.join(repo, 'target', 'debug', 'iris');
}
const iris = require('..');
const { startNode, sleep, peerBin } = require('../test/helpers');

const seconds = Number(process.env.BENCH_SECONDS || 3);
const payload = Buffer.from('x');

function startService(port) {
  const rust = process.env.BENCH_SERVICE === 'rust';
  const child = rust
    ? spawn(peerBin, ['serve', String(port), 'bench', ''], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, [path.join(__dirname, 'echo-service.js'), String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'ready') resolve({ stop: () => new Promise((r) => { child.on('exit', r); child.stdin.end(); }) });
    });
  });
}

async function latency(conn) {
  for (let i = 0; i < 500; i++) await conn.request('bench', payload, 5000);
  const samples = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t = process.hrtime.bigint();
    await conn.request('bench', payload, 5000);
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return { mean, p50: samples[Math.floor(samples.length * 0.5)], p99: samples[Math.floor(samples.length * 0.99)], n: samples.length };
}

async function throughput(conn, inFlight) {
  let done = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      await conn.request('bench', payload, 10000);
      done++;
    }
  };
  const workers = Array.from({ length: inFlight }, worker);
  await sleep(500);
  const start = done;
  const t = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const count = done - start;
  const elapsed = Number(process.hrtime.bigint() - t) / 1e9;
  stop = true;
  await Promise.all(workers);
  return count / elapsed;
}

async function events(port) {
  const pub = await iris.connect(port);
  const sub = await iris.connect(port);
  let received = 0;
  await sub.subscribe('bench-events', () => { received++; });
  await sleep(200);
  const total = Number(process.env.BENCH_EVENTS || 200000);
  const window = 4096;
  const t = process.hrtime.bigint();
  let pending = [];
  for (let i = 0; i < total; i++) {
    pending.push(pub.publish('bench-events', payload));
    if (pending.length === window) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  const published = Number(process.hrtime.bigint() - t) / 1e9;
  const deadline = Date.now() + 60000;
  while (received < total && Date.now() < deadline) await sleep(5);
  const delivered = Number(process.hrtime.bigint() - t) / 1e9;
  await pub.close();
  await sub.close();
  return { published: total / published, delivered: received / delivered, received, total };
}

(async () => {
  const node = await startNode();
  const service = await startService(node.port);
  const conn = await iris.connect(node.port);
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || 'unknown';
  console.log(`iris Node.js binding benchmark, ${new Date().toISOString()}`);
  console.log(`node ${process.version}, nproc ${os.cpus().length}, cpu ${cpu}`);
  console.log(`iris node ${process.env.IRIS_BIN}, echo service in ${process.env.BENCH_SERVICE === 'rust' ? 'Rust (iris-peer)' : 'Node.js (separate process)'}`);
  const lat = await latency(conn);
  console.log(`request latency, 1 in flight:   mean ${lat.mean.toFixed(1)} us, p50 ${lat.p50.toFixed(1)} us, p99 ${lat.p99.toFixed(1)} us (${lat.n} requests)`);
  const rps = await throughput(conn, 128);
  console.log(`request throughput, 128 in flight: ${Math.round(rps)} requests/s`);
  await conn.close();
  await service.stop();
  const ev = await events(node.port);
  console.log(`publish, one subscriber:        ${Math.round(ev.published)} events/s published, ${Math.round(ev.delivered)} events/s delivered (${ev.received}/${ev.total})`);
  await node.stop();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
