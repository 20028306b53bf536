// Embedded nodes cannot prepare a transaction, so a write on several of them commits on one after another. A crash
// between those commits would leave a shard's copies unequal without anything noticing. So each such commit is
// written to a journal (a file beside the embedded nodes) before it starts and marked done after it ends; at
// start, a commit begun and never done means its first node decides: every other node's copy of a shard that
// the first node also holds is made inactive, and repair copies it again from the first node's copy.
import fs from 'node:fs';

let file: string | undefined;

/** Where the journal lives (the embedded nodes' folder); unset for PostgreSQL nodes, which prepare. */
export function useCommitJournal(path: string | undefined): void {
  file = path;
}

export interface UnfinishedCommit {
  id: string;
  database: string;
  /** The nodes in the order they commit: the first one's copies are the truth. */
  nodes: number[];
}

let seq = 0;
let open = 0;
let written = 0;

/** Runs `commitAll` (commits in turn on `nodes`, in that order) between a begin and a done line in the journal. */
export async function journaled(database: string, nodes: number[], commitAll: () => Promise<void>): Promise<void> {
  if (!file || new Set(nodes).size < 2) return commitAll();
  const id = `${process.pid}-${Date.now()}-${++seq}`;
  // Synchronous and flushed: the line must be on disk before the first COMMIT.
  append(`begin ${id} ${nodes.join(',')} ${JSON.stringify(database)}\n`);
  open++;
  try {
    await commitAll();
  } finally {
    // Done also when a COMMIT failed: the session is alive and the error went to the client, as on one node.
    append(`done ${id}\n`);
    open--;
  }
  // Nothing is in flight: what the journal holds is all done, and it can start again empty.
  if (!open && written > 1024 * 1024) {
    fs.writeFileSync(file, '');
    written = 0;
  }
}

function append(line: string): void {
  const fd = fs.openSync(file!, 'a');
  try {
    fs.writeSync(fd, line);
    written += line.length;
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The commits the journal says were begun and never done (a crash between two nodes' commits). */
export function unfinishedCommits(): UnfinishedCommit[] {
  if (!file || !fs.existsSync(file)) return [];
  const open = new Map<string, UnfinishedCommit>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^begin (\S+) ([\d,]+) (".*")$/.exec(line);
    if (m) open.set(m[1], { id: m[1], nodes: m[2].split(',').map(Number), database: JSON.parse(m[3]) });
    const d = /^done (\S+)$/.exec(line);
    if (d) open.delete(d[1]);
  }
  return [...open.values()];
}

/** Starts the journal afresh once what it said has been acted on. */
export function clearCommitJournal(): void {
  if (file && fs.existsSync(file)) fs.writeFileSync(file, '');
}
