// Compiled with `tsc --noEmit` by test/typings.test.js: the typings accept the documented API.
import iris = require('../..');

async function main(port: number): Promise<void> {
  const handler: iris.ServiceHandler = {
    init(conn: iris.Connection) {
      void conn.id;
    },
    async handleRequest(request: Buffer) {
      return request;
    },
    handleBroadcast(message: Buffer) {
      void message;
    },
    async handleTunnel(tunnel: iris.Tunnel) {
      await tunnel.send(await tunnel.recv(1000), 1000);
    },
    handleDrop(err: iris.IrisError) {
      void err.code;
    },
  };
  const service: iris.Service = await iris.register(port, 'echo', handler, { requestThreads: 4, requestMemory: 64 << 20 });
  const conn: iris.Connection = await iris.connect(port);
  const reply: Buffer = await conn.request('echo', Buffer.from('hi'), 1000);
  await conn.broadcast('echo', 'to all');
  await conn.subscribe('news', (event: Buffer) => void event, { eventThreads: 1 });
  await conn.subscribe('more', { handleEvent: (event: Buffer) => void event });
  await conn.publish('news', new Uint8Array([1]));
  await conn.unsubscribe('news');
  const tunnel: iris.Tunnel = await conn.tunnel('echo', 1000);
  await tunnel.close();
  try {
    await conn.request('echo', reply, 1);
  } catch (err) {
    if (err instanceof iris.TimeoutError || err instanceof iris.RemoteError) {
      const code: string = err.code;
      void code;
    }
  }
  const open: boolean = conn.isOpen();
  void open;
  await conn.close();
  await service.unregister();
}
void main;
