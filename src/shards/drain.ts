// Waiting for a socket to take what was written to it.
import type net from 'node:net';

/** A wait already over: one promise for every write that needed none (hot paths return it rather than make one). */
export const DONE: Promise<void> = Promise.resolve();

/** The wait under way per socket: every waiter shares it (many paused node connections wait on one client). */
const waits = new WeakMap<net.Socket, Promise<void>>();

/** Resolves at the socket's next 'drain', or when it closes (a peer that went away never drains). */
export function drainOrClose(socket: net.Socket): Promise<void> {
  let p = waits.get(socket);
  if (p) return p;
  p = new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      waits.delete(socket);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
  waits.set(socket, p);
  return p;
}
