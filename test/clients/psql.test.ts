// psql, scripted: the flow as a person would type it, with \copy both ways and \d on the distributed table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { psql } from '../helpers/psql.ts';
import * as flow from './flow.ts';

let cluster: flow.ClientCluster;
let dir: string;
beforeAll(async () => {
  cluster = await flow.startClientCluster();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-psql-'));
});
afterAll(async () => {
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function run(script: string, args: string[] = ['-At']) {
  return psql(cluster.c.port, script, { password: cluster.c.options().password, args });
}

it('runs the flow on a distributed table', async () => {
  const copyIn = path.join(dir, 'copied.tsv');
  const copyOut = path.join(dir, 'tenant0.tsv');
  fs.writeFileSync(copyIn, flow.copyText(flow.COPIED));
  const values = flow.INSERTED.map((d) => `(${d.id}, ${d.tenant}, '${d.title}', '${flow.vectorText(d.embedding)}')`).join(',\n  ');
  const q = flow.vectorText(flow.QUERY);
  const r = await run(`
${flow.CREATE_TABLE};
${flow.DISTRIBUTE};
INSERT INTO docs (id, tenant, title, embedding) VALUES
  ${values};
\\copy docs (id, tenant, title, embedding) FROM '${copyIn}'
${flow.CREATE_INDEX};
\\echo knn
SELECT id FROM docs WHERE tenant = ${flow.TENANT} ORDER BY embedding <=> '${q}' LIMIT ${flow.K};
UPDATE docs SET embedding = '${q}', title = 'moved' WHERE id = ${flow.MOVED};
\\echo top
SELECT id, title FROM docs WHERE tenant = ${flow.TENANT} ORDER BY embedding <=> '${q}' LIMIT 1;
DELETE FROM docs WHERE tenant = ${flow.DELETED_TENANT};
BEGIN;
INSERT INTO docs (id, tenant, title) VALUES (${flow.TX_IDS[0]}, 0, 'tx'), (${flow.TX_IDS[1]}, 0, 'tx');
ROLLBACK;
\\echo after rollback
SELECT count(*) FROM docs WHERE title = 'tx';
BEGIN;
INSERT INTO docs (id, tenant, title) VALUES (${flow.TX_IDS[0]}, 0, 'tx'), (${flow.TX_IDS[1]}, 0, 'tx');
COMMIT;
\\echo final
SELECT count(*) FROM docs;
\\copy (SELECT id, title FROM docs WHERE tenant = 0 ORDER BY id) TO '${copyOut}'
`);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const section = (name: string, lines: number) => {
    const out = r.stdout.split('\n');
    const at = out.indexOf(name);
    expect(at, `psql printed "${name}"`).toBeGreaterThanOrEqual(0);
    return out.slice(at + 1, at + 1 + lines);
  };
  expect(r.stdout).toContain('COPY 60');
  expect(section('knn', flow.K).map(Number)).toEqual(flow.EXPECTED_KNN);
  expect(section('top', 1)).toEqual([`${flow.MOVED}|moved`]);
  expect(r.stdout).toContain('DELETE 40');
  expect(section('after rollback', 1)).toEqual(['0']);
  expect(section('final', 1)).toEqual([String(flow.FINAL_COUNT)]);

  const exported = fs.readFileSync(copyOut, 'utf8').trim().split('\n');
  const tenant0 = [...flow.INSERTED, ...flow.COPIED].filter((d) => d.tenant === 0).map((d) => `${d.id}\t${d.title}`);
  expect(exported).toEqual([...tenant0, `${flow.TX_IDS[0]}\ttx`, `${flow.TX_IDS[1]}\ttx`].sort((a, b) => parseInt(a) - parseInt(b)));
  await flow.expectFinalPlacement(cluster);

  // \d shows the distributed table as the user declared it, index included.
  const d = await run('\\d docs', []);
  expect(d.code).toBe(0);
  expect(d.stdout).toMatch(/Table "public\.docs"/);
  expect(d.stdout).toMatch(/embedding\s*\|\s*vector\(3\)/);
  expect(d.stdout).toMatch(/"docs_pkey" PRIMARY KEY, btree \(id\)/);
  expect(d.stdout).toMatch(/"docs_embedding_idx" hnsw \(embedding vector_cosine_ops\)/);
  const dt = await run('\\dt', []);
  expect(dt.stdout).toMatch(/public \| docs\s*\| table/);
});
