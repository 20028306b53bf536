// Waiting for a socket to take what was written to it.
import type net from 'node:net';

/** Resolves at the socket's next 'drain', or when it closes (a peer that went away never drains). */
export function drainOrClose(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
