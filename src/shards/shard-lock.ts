// Shard write locks: writers share a shard's lock; a repair or move takes it alone while it copies the shard.
/** A shared/exclusive lock, in this coordinator process. */
export class ShardLock {
  #shared = 0;
  #exclusive = false;
  #waiters: Array<() => void> = [];

  async shared(): Promise<() => void> {
    while (this.#exclusive) await new Promise<void>((r) => this.#waiters.push(r));
    this.#shared++;
    return () => {
      this.#shared--;
      this.#wake();
    };
  }

  async exclusive(): Promise<() => void> {
    while (this.#exclusive || this.#shared > 0) await new Promise<void>((r) => this.#waiters.push(r));
    this.#exclusive = true;
    return () => {
      this.#exclusive = false;
      this.#wake();
    };
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
