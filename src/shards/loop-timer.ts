// A timeout that counts only time in which this process could have heard an answer. When the event loop is
// blocked (a large statement being built, a garbage collection), a plain setTimeout fires as soon as the loop is
// free, before the socket data that arrived meanwhile is read — and a node that answered in time is called dead.

/** Calls `fire` once `ms` of running time have passed; a stall of the loop counts as at most two ticks. Returns a cancel function. */
export function loopTimeout(ms: number, fire: () => void): () => void {
  const tick = Math.max(10, Math.min(100, ms / 4));
  let counted = 0;
  let last = performance.now();
  let cancelled = false;
  const timer = setInterval(() => {
    const now = performance.now();
    counted += Math.min(now - last, tick * 2);
    last = now;
    if (counted < ms) return;
    clearInterval(timer);
    // Socket data that came in while the loop was busy is read in this turn's poll phase, before setImmediate.
    setImmediate(() => cancelled || fire());
  }, tick);
  timer.unref?.();
  return () => {
    cancelled = true;
    clearInterval(timer);
  };
}
