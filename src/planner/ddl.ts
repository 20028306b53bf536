// DDL on distributed tables: the statement on the shell, and its counterpart on every shard.
import { cloneTree, deparse, type Node } from '../sql/ast.ts';
import { SHARD_SCHEMA, type DistributedTable } from '../metadata/catalog.ts';
import { NO_PARAMS } from './params.ts';
import { toShard } from './relations.ts';
import { type DdlPlan, type ErrorPlan, type ShardTask } from './types.ts';
import { PgError, notSupported } from '../errors.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';
import { shardObjectName } from '../metadata/names.ts';



function perShard(table: DistributedTable, make: (shardName: string, index: number) => string): ShardTask[] {
  return table.shards.flatMap((s) => s.nodes.map((nodeId) => ({ nodeId, shard: s.name, shardIndex: s.index, sql: make(s.name, s.index), params: NO_PARAMS })));
}

const catalogKey = (t: DistributedTable) => `schema_name = ${quoteLiteral(t.schema)} AND table_name = ${quoteLiteral(t.name)}`;

export function planIndex(stmt: Node, text: string, table: DistributedTable): DdlPlan {
  return {
    kind: 'ddl',
    shell: text,
    transactional: !stmt.concurrent,
    catalog: [],
    tasks: perShard(table, (name, i) => {
      const s = toShard({ IndexStmt: { ...stmt, idxname: stmt.idxname ? shardObjectName(stmt.idxname, i) : undefined } }, table, name);
      delete s.IndexStmt.relation.alias;
      return deparse(s);
    }),
  };
}

/**
 * DROP INDEX of indexes on distributed tables. A shard's copy of an index may have another name (Postgres names
 * an unnamed one after the shard table), so each shard drops the indexes whose definition, from USING on, is the
 * shell index's.
 */
/**
 * DROP INDEX, REINDEX INDEX (`stmt` a ReindexStmt) or ALTER INDEX ... SET/RESET (an AlterTableStmt) of indexes on
 * distributed tables: each shard copy's like index too, found by its definition.
 */
export function planDropIndex(stmt: Node, text: string, targets: Array<{ table: DistributedTable; using: string }>): DdlPlan {
  const alter = stmt.cmds ? deparse({ AlterTableStmt: { ...stmt, missing_ok: false, relation: { relname: 'vecshard_index__', inh: true, relpersistence: 'p' } } }) : undefined;
  const action = alter ? `replace(${quoteLiteral(alter)}, 'vecshard_index__', r)` : `'${stmt.kind ? 'REINDEX INDEX ' : 'DROP INDEX IF EXISTS '}' || r`;
  // Each shard's index is found inside a DO block, where CONCURRENTLY cannot run.
  if (stmt.kind && stmt.concurrent) throw new PgError(notSupported('REINDEX INDEX CONCURRENTLY', 'REINDEX TABLE CONCURRENTLY rebuilds every index of the table without blocking writes.').error);
  return {
    kind: 'ddl',
    shell: text,
    transactional: !stmt.concurrent,
    catalog: [],
    tasks: targets.flatMap(({ table, using }) =>
      perShard(table, (name) => {
        const shard = quoteLiteral(`${SHARD_SCHEMA}.${quoteIdent(name)}`);
        return `DO $vecshard$ DECLARE r text; BEGIN
  FOR r IN SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = ${shard}::regclass AND substring(pg_get_indexdef(indexrelid) from ' USING .*') = ${quoteLiteral(using)}
  LOOP EXECUTE ${action}; END LOOP;
END $vecshard$`;
      }),
    ),
  };
}

/** REINDEX TABLE of a distributed table: every shard copy too (the shell's own indexes are empty). */
export function planReindexTable(stmt: Node, text: string, table: DistributedTable): DdlPlan {
  const concurrent = (stmt.params ?? []).some((p: Node) => p.DefElem?.defname === 'concurrently');
  return {
    kind: 'ddl',
    shell: text,
    transactional: !concurrent,
    catalog: [],
    tasks: perShard(table, (name) => deparse({ ReindexStmt: { ...stmt, relation: { schemaname: SHARD_SCHEMA, relname: name, inh: true, relpersistence: 'p' } } })),
  };
}

/** Whether a named table is one of `tables` (no schema: any of them with that name, as the planner resolved it). */
const among = (tables: DistributedTable[], schema: string | undefined, name: string) => tables.some((t) => t.name === name && (schema === undefined || t.schema === schema));

/**
 * DROP TABLE or TRUNCATE naming plain tables too: those live on the home node only, so the other nodes run the
 * statement over the distributed tables (their shells) alone.
 */
function onlyDistributed(kind: 'DropStmt' | 'TruncateStmt', stmt: Node, tables: DistributedTable[]): string | undefined {
  if (kind === 'TruncateStmt') {
    const rels = (stmt.relations as Node[]).filter((r) => among(tables, r.RangeVar.schemaname, r.RangeVar.relname));
    return rels.length < stmt.relations.length ? deparse({ TruncateStmt: { ...stmt, relations: rels } }) : undefined;
  }
  const objects = (stmt.objects as Node[]).filter((o) => {
    const parts = (o.List?.items ?? []).map((x: Node) => x.String?.sval as string);
    return among(tables, parts.length > 1 ? parts.at(-2) : undefined, parts.at(-1));
  });
  return objects.length < stmt.objects.length ? deparse({ DropStmt: { ...stmt, objects } }) : undefined;
}

export function planDropTables(text: string, tables: DistributedTable[], stmt: Node): DdlPlan {
  const elsewhere = onlyDistributed('DropStmt', stmt, tables);
  return {
    kind: 'ddl',
    shell: text,
    ...(elsewhere && { elsewhere }),
    transactional: true,
    catalog: tables.map((t) => `DELETE FROM vecshard.tables WHERE ${catalogKey(t)}`),
    tasks: tables.flatMap((t) => perShard(t, (name) => `DROP TABLE IF EXISTS ${SHARD_SCHEMA}.${quoteIdent(name)}`)),
  };
}

export function planTruncate(text: string, tables: DistributedTable[], stmt: Node): DdlPlan {
  const opts = `${stmt.restart_seqs ? ' RESTART IDENTITY' : ''}${stmt.behavior === 'DROP_CASCADE' ? ' CASCADE' : ''}`;
  const elsewhere = onlyDistributed('TruncateStmt', stmt, tables);
  return {
    kind: 'ddl',
    shell: text,
    ...(elsewhere && { elsewhere }),
    transactional: true,
    catalog: [],
    tasks: tables.flatMap((t) => perShard(t, (name) => `TRUNCATE ${SHARD_SCHEMA}.${quoteIdent(name)}${opts}`)),
  };
}

export function planAlterTable(stmt: Node, text: string, table: DistributedTable): DdlPlan | ErrorPlan {
  for (const c of stmt.cmds as Node[]) {
    const cmd = c.AlterTableCmd;
    const con = cmd?.def?.Constraint;
    if (con?.contype === 'CONSTR_FOREIGN') return notSupported('foreign keys');
    if (cmd?.subtype === 'AT_AlterColumnType' && cmd.name === table.distColumn) return notSupported(`changing the type of distribution column "${table.distColumn}"`);
    if (cmd?.subtype === 'AT_DropColumn' && cmd.name === table.distColumn) return notSupported(`dropping distribution column "${table.distColumn}"`);
    if ((con?.contype === 'CONSTR_PRIMARY' || con?.contype === 'CONSTR_UNIQUE') && !(con.keys ?? []).some((k: Node) => k.String?.sval === table.distColumn)) {
      return {
        kind: 'error',
        error: {
          severity: 'ERROR',
          code: '0A000',
          message: `vecshard: a primary key or unique constraint on "${table.name}" must include the distribution column "${table.distColumn}"`,
          hint: `Each shard can only enforce uniqueness within itself. Add "${table.distColumn}" to the key.`,
        },
      };
    }
  }
  return {
    kind: 'ddl',
    shell: text,
    transactional: true,
    catalog: [],
    tasks: perShard(table, (name, i) => {
      const s = toShard({ AlterTableStmt: cloneTree(stmt) }, table, name);
      delete s.AlterTableStmt.relation.alias;
      for (const c of s.AlterTableStmt.cmds) {
        const con = c.AlterTableCmd?.def?.Constraint;
        if (con?.conname) con.conname = shardObjectName(con.conname, i);
      }
      return deparse(s);
    }),
  };
}

export function planRename(stmt: Node, text: string, table: DistributedTable): DdlPlan | ErrorPlan {
  if (stmt.renameType === 'OBJECT_COLUMN') {
    if (stmt.subname === table.distColumn) {
      return { kind: 'ddl', shell: text, transactional: true, catalog: [`UPDATE vecshard.tables SET dist_column = ${quoteLiteral(stmt.newname)} WHERE ${catalogKey(table)}`], tasks: renamed(stmt, table) };
    }
    return { kind: 'ddl', shell: text, transactional: true, catalog: [], tasks: renamed(stmt, table) };
  }
  if (stmt.renameType === 'OBJECT_TABLE') {
    const base = table.schema === 'public' ? stmt.newname : `${table.schema}_${stmt.newname}`;
    return {
      kind: 'ddl',
      shell: text,
      transactional: true,
      catalog: [
        `UPDATE vecshard.tables SET table_name = ${quoteLiteral(stmt.newname)} WHERE ${catalogKey(table)}`,
        ...table.shards.map((s) => `UPDATE vecshard.shards SET shard_name = ${quoteLiteral(shardObjectName(base, s.index))} WHERE shard_id = ${s.id}`),
      ],
      tasks: perShard(table, (name, i) => `ALTER TABLE ${SHARD_SCHEMA}.${quoteIdent(name)} RENAME TO ${quoteIdent(shardObjectName(base, i))}`),
    };
  }
  return notSupported(`renaming this kind of object (${stmt.renameType})`);
}

function renamed(stmt: Node, table: DistributedTable): ShardTask[] {
  return perShard(table, (name) => {
    const s = toShard({ RenameStmt: stmt }, table, name);
    delete s.RenameStmt.relation.alias;
    return deparse(s);
  });
}
