// The fast lane for a client batch that only binds, describes and runs statements on ordinary tables, ending in
// Sync, optionally after one Parse (pgbench -M prepared and -M extended, node-postgres's parameterized queries):
// the messages go to the home node in one write, statement names swapped for the node's, and the node's answers
// come back as they are, without the extended protocol's per-message bookkeeping.
import * as fe from '../protocol/frontend.ts';
import type { PreparedStatement } from '../session/statements.ts';
import type { ClientSession } from './session.ts';
import { routed } from './routed-lane.ts';

/**
 * Undefined when the batch needs the general path (then nothing has changed); the promise gives false when a
 * statement must first be parsed on the connection.
 */
export function relay(cs: ClientSession, frames: Buffer[]): Promise<boolean> | undefined {
  const lookup = routed(cs, frames);
  if (lookup) return lookup;
  const x = cs.extended;
  const n = frames.length;
  if (n < 2 || frames[n - 1][0] !== 0x53 || cs.copy.active || x.out.length || x.entries.length || x.failed) return undefined;
  if (cs.s.distributedTx || cs.s.portals.size || cs.s.home !== 0) return undefined;
  const parse = frames[0][0] === 0x50 ? frames[0] : undefined;
  const names: string[] = [];
  // Where each Bind's statement name starts and ends (after its terminator), for renaming it.
  const spans: number[] = [];
  let executes = 0;
  for (let i = parse ? 1 : 0; i < n - 1; i++) {
    const f = frames[i];
    if (f[0] === 0x42) {
      const portalEnd = f.indexOf(0, 5);
      const end = f.indexOf(0, portalEnd + 1);
      if (portalEnd < 0 || end < 0) return undefined;
      names.push(f.toString('utf8', portalEnd + 1, end));
      spans.push(portalEnd + 1, end + 1);
    } else if (f[0] === 0x44) {
      if (f[5] === 0x53) names.push(f.toString('utf8', 6, f.length - 1)); // Describe statement
      else if (f[5] !== 0x50) return undefined; // not portal either: the general path reports it
    } else if (f[0] === 0x45) executes++;
    else return undefined;
  }
  return relayBatch(cs, frames, parse, names, spans, executes);
}

async function relayBatch(cs: ClientSession, frames: Buffer[], parse: Buffer | undefined, names: string[], spans: number[], executes: number): Promise<boolean> {
  const x = cs.extended;
  const s = cs.s;
  try {
    const conn = await s.acquire();
    let parsed: string | undefined;
    if (parse) {
      // Parse is decided as ever (extended.ts); the batch stays in the fast lane only if it queued nothing unusual.
      await x.parse(parse);
      const e = x.entries;
      const plain = e.length === 1 && !e[0].replaceError && (e[0].synthetic ? e[0].synthetic[0] === 0x31 : e[0].forward);
      parsed = plain ? parse.toString('utf8', 5, parse.indexOf(0, 5)) : undefined;
      const st = parsed === undefined ? undefined : s.statements.get(parsed);
      if (!st || st.distributed || st.coordinatorOnly) return handleEach(cs, frames, 1);
    }
    const used: PreparedStatement[] = [];
    for (const name of names) {
      const st = s.statements.get(name);
      const ready = st && !st.distributed && !st.coordinatorOnly && (name === parsed || (st.nodeName === '' ? conn.backend.unnamedOwner === st.owner : conn.backend.prepared.has(st.nodeName)));
      if (!ready) return parse ? handleEach(cs, frames, 1) : false;
      used.push(st);
    }
    const out = x.out.splice(0);
    const head = x.entries.splice(0)[0];
    if (head?.synthetic) cs.ctx.send(head.synthetic); // ParseComplete for a statement the connection had
    let u = 0;
    let b = 0;
    for (let i = parse ? 1 : 0; i < frames.length; i++) {
      const f = frames[i];
      if (f[0] === 0x42 || (f[0] === 0x44 && f[5] === 0x53)) {
        const st = used[u];
        if (st.pins) s.pinned = true;
        if (st.changesSettings) s.refreshSettings = true;
        if (f[0] === 0x42) {
          out.push(names[u] === st.nodeName ? f : fe.renameBind(f, spans[b], spans[b + 1], st.nodeName));
          b += 2;
        } else out.push(fe.describe({ kind: 'S', name: st.nodeName }));
        u++;
      } else out.push(f);
    }
    conn.write(out.length === 1 ? out[0] : Buffer.concat(out));
    for (let i = 0; i < executes; i++) cs.ctx.cluster.metrics.relayed('local');
    let parseAnswered = head?.nodeName === undefined;
    s.status = await conn.readUntilReady((f) => {
      if (!parseAnswered && (f[0] === 0x31 || f[0] === 0x45)) {
        parseAnswered = true;
        if (f[0] === 0x45) x.parseRefused(conn, head!);
      }
      cs.ctx.send(f);
      cs.throttle(conn);
    });
    await cs.afterReady();
  } catch (e) {
    // The batch's Sync is consumed here, so the client gets ReadyForQuery after the error.
    await cs.fail(e);
  }
  return true;
}

/** The general path for the rest of a batch the fast lane began. */
async function handleEach(cs: ClientSession, frames: Buffer[], from: number): Promise<boolean> {
  for (let i = from; i < frames.length && !cs.closed; i++) {
    cs.ahead = { list: frames, next: i + 1 };
    await cs.handle(frames[i]);
  }
  return true;
}
