'use strict';
// The benchmark's echo service, in its own process (its own JavaScript thread).
const iris = require('..');

const port = Number(process.argv[2]);
iris.register(port, 'bench', { handleRequest: (request) => request }, { requestThreads: Number(process.env.BENCH_REQUEST_THREADS || 0) }).then((service) => {
  console.log('ready');
  process.stdin.resume();
  process.stdin.on('end', () => service.unregister());
});
