const iris = require('iris');

// The relay port of the local iris node (55555 unless it was started with --port).
const port = Number(process.env.IRIS_PORT || 55555);

async function main() {
  // A service: one member of the cluster "echo". Every handler is optional and may be async.
  const service = await iris.register(port, 'echo', {
    async handleRequest(request) {
      return Buffer.concat([Buffer.from('echo: '), request]);
    },
    handleBroadcast(message) {
      console.log('broadcast:', message.toString());
    },
    async handleTunnel(tunnel) {
      await tunnel.send(await tunnel.recv(1000), 1000);
    },
  }, { requestThreads: 4 });

  // A client: request/reply, broadcast, publish/subscribe and a tunnel.
  const conn = await iris.connect(port);
  const reply = await conn.request('echo', Buffer.from('hi'), 1000); // timeout in ms
  console.log('reply:', reply.toString());

  await conn.broadcast('echo', Buffer.from('to all'));

  let eventSeen;
  const seen = new Promise((resolve) => { eventSeen = resolve; });
  await conn.subscribe('news', (event) => {
    console.log('event:', event.toString());
    eventSeen();
  });
  await conn.publish('news', Buffer.from('hello'));
  await seen;
  await conn.unsubscribe('news');

  const tunnel = await conn.tunnel('echo', 1000);
  await tunnel.send(Buffer.from('x'), 1000);
  console.log('tunnel:', (await tunnel.recv(1000)).toString());
  await tunnel.close();

  try {
    await conn.request('nobody', Buffer.from('?'), 100);
  } catch (err) {
    if (!(err instanceof iris.TimeoutError)) throw err;
    console.log('no member answered:', err.code);
  }

  await conn.close();
  await service.unregister(); // nothing left that keeps the process alive: it exits
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
