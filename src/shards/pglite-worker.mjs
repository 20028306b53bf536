// Hosts one PGlite instance (one node's database) off the main thread, so a long query on it never blocks the
// coordinator's event loop. Plain JS: worker threads start without the TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';

let db;
let dead = false;
let chain = Promise.resolve();

try {
  db = await PGlite.create({ dataDir: workerData.dataDir, extensions: { vector } });
  parentPort.postMessage({ ready: true });
} catch (e) {
  parentPort.postMessage({ ready: false, error: String(e?.message ?? e) });
}

parentPort.on('message', (msg) => {
  if (msg.close) {
    chain = chain.then(async () => {
      if (!dead) await db.close().catch(() => {});
      parentPort.postMessage({ closed: true });
    });
    return;
  }
  chain = chain.then(async () => {
    if (dead) return parentPort.postMessage({ id: msg.id, error: 'PGlite instance has exited', fatal: true });
    try {
      const out = await db.execProtocolRaw(msg.data);
      const copy = new Uint8Array(out);
      parentPort.postMessage({ id: msg.id, data: copy }, [copy.buffer]);
    } catch (e) {
      // PGlite exits (ExitStatus) on protocol states it cannot serve; the instance is gone after that.
      dead = e?.name === 'ExitStatus' || /exit/i.test(String(e?.message));
      parentPort.postMessage({ id: msg.id, error: String(e?.message ?? e), fatal: dead });
    }
  });
});
