// Roles and privileges. Roles live on every node (vecshard works on each as the client's role), so statements on
// roles run everywhere, with a password turned into one SCRAM verifier first so every node has the same one.
// GRANT, REVOKE and row-level security policies on a distributed table reach its shell on every node and each
// shard copy; copies made later take them from the table (operations/access.ts).
import { cloneTree, deparse, type Node } from '../sql/ast.ts';
import { notSupported } from '../errors.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';
import { makeVerifier } from '../shards/login.ts';
import { SHARD_SCHEMA, type Catalog, type DistributedTable } from '../metadata/catalog.ts';
import { NO_PARAMS } from './params.ts';
import { toShard } from './relations.ts';
import type { DdlPlan, ErrorPlan, ShardTask } from './types.ts';

const EVERY_NODE = new Set(['CreateRoleStmt', 'AlterRoleStmt', 'DropRoleStmt', 'GrantRoleStmt', 'AlterDefaultPrivilegesStmt']);

type RolePlan = DdlPlan | ErrorPlan | { kind: 'passthrough'; sql?: string };

/** The plan of a statement on roles, privileges or policies; undefined for other statements. */
export function planRoles(kind: string, stmt: Node, text: string, catalog: Catalog, nodeCount: number): RolePlan | undefined {
  const n = stmt[kind];
  const everywhere = (sql: string): RolePlan => (nodeCount > 1 ? { kind: 'ddl', shell: sql, transactional: true, catalog: [], tasks: [] } : { kind: 'passthrough', sql });
  if (EVERY_NODE.has(kind)) return everywhere(withVerifier(stmt, kind) ?? text);
  // A schema exists on every node, so its privileges and the shells of its tables can be there too.
  if (kind === 'CreateSchemaStmt' && !n.schemaElts?.length) return everywhere(text);
  if (kind === 'GrantStmt') return planGrant(n, text, catalog, everywhere);
  const table = (rv: Node | undefined) => (rv ? catalog.get(rv.schemaname ?? 'public', rv.relname) : undefined);
  if (kind === 'CreatePolicyStmt' || kind === 'AlterPolicyStmt') {
    const t = table(n.table);
    return t && ddl(text, perShard(t, (shard) => {
      const s = toShard(stmt, t, shard);
      delete s[kind].table.alias;
      return deparse(s);
    }));
  }
  if (kind === 'RenameStmt' && n.renameType === 'OBJECT_POLICY') {
    const t = table(n.relation);
    return t && ddl(text, perShard(t, (shard) => `ALTER POLICY ${quoteIdent(n.subname)} ON ${shardName(shard)} RENAME TO ${quoteIdent(n.newname)}`));
  }
  if (kind === 'DropStmt' && n.removeType === 'OBJECT_POLICY') {
    const named = (n.objects as Node[]).map((o) => (o.List.items as Node[]).map((x) => x.String.sval as string));
    const tables = named.map((parts) => ({ policy: parts[parts.length - 1], t: catalog.get(parts.length > 2 ? parts[parts.length - 3] : 'public', parts[parts.length - 2]) }));
    if (tables.every((x) => !x.t)) return undefined;
    if (tables.some((x) => !x.t)) return notSupported('DROP POLICY naming policies of distributed and other tables together');
    const ifExists = n.missing_ok ? ' IF EXISTS' : '';
    return ddl(text, tables.flatMap(({ policy, t }) => perShard(t!, (shard) => `DROP POLICY${ifExists} ${quoteIdent(policy)} ON ${shardName(shard)}`)));
  }
  return undefined;
}

/** The statement with its password replaced by a SCRAM verifier made here; undefined when it has none to replace. */
function withVerifier(stmt: Node, kind: string): string | undefined {
  const copy = cloneTree(stmt);
  const option = (copy[kind].options as Node[] | undefined)?.find((o) => o.DefElem?.defname === 'password')?.DefElem;
  const password = option?.arg?.String?.sval;
  // Already a verifier (psql's \password sends one) or an md5 hash: every node stores it as it is.
  if (typeof password !== 'string' || /^SCRAM-SHA-256\$|^md5[0-9a-f]{32}$/.test(password)) return undefined;
  option.arg.String.sval = makeVerifier(password);
  return deparse(copy);
}

function planGrant(n: Node, text: string, catalog: Catalog, everywhere: (sql: string) => RolePlan): RolePlan {
  const onShard = (shard: string) => deparse({ GrantStmt: { ...n, targtype: 'ACL_TARGET_OBJECT', objects: [{ RangeVar: { schemaname: SHARD_SCHEMA, relname: shard, inh: true, relpersistence: 'p' } }] } });
  if (n.objtype === 'OBJECT_TABLE' && n.targtype === 'ACL_TARGET_OBJECT') {
    const tables = (n.objects as Node[]).map((o) => catalog.get(o.RangeVar.schemaname ?? 'public', o.RangeVar.relname));
    if (tables.every((t) => !t)) return { kind: 'passthrough' };
    if (tables.some((t) => !t)) return notSupported(`${n.is_grant ? 'GRANT' : 'REVOKE'} naming distributed and other tables together`, 'Name them in separate statements.');
    return ddl(text, tables.flatMap((t) => perShard(t!, onShard)));
  }
  if (n.objtype === 'OBJECT_TABLE' && n.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
    const schemas = new Set((n.objects as Node[]).map((o) => o.String.sval as string));
    const tables = [...catalog.tables.values()].filter((t) => schemas.has(t.schema));
    if (!tables.length) return { kind: 'passthrough' };
    if (new Set(tables.map((t) => t.schema)).size < schemas.size) return notSupported('GRANT ON ALL TABLES IN SCHEMA naming schemas with and without distributed tables together', 'Name them in separate statements.');
    return ddl(text, tables.flatMap((t) => perShard(t, onShard)));
  }
  if (n.objtype === 'OBJECT_DATABASE') return everywhere(text);
  if (n.objtype === 'OBJECT_SCHEMA' && n.targtype === 'ACL_TARGET_OBJECT') {
    // A schema made before vecshard created schemas on every node may be on the home node only.
    const plan = everywhere(text);
    if (plan.kind !== 'ddl') return plan;
    const each = (n.objects as Node[]).map((o) => {
      const one = deparse({ GrantStmt: { ...n, objects: [o] } });
      return `IF to_regnamespace(${quoteLiteral(quoteIdent(o.String.sval))}) IS NOT NULL THEN EXECUTE ${quoteLiteral(one)}; END IF;`;
    });
    return { ...plan, elsewhere: `DO $vecshard$ BEGIN ${each.join(' ')} END $vecshard$` };
  }
  return { kind: 'passthrough' };
}

function ddl(shell: string, tasks: ShardTask[]): DdlPlan {
  return { kind: 'ddl', shell, transactional: true, catalog: [], tasks };
}

function perShard(table: DistributedTable, make: (shard: string) => string): ShardTask[] {
  return table.shards.flatMap((s) => s.nodes.map((nodeId) => ({ nodeId, shard: s.name, shardIndex: s.index, sql: make(s.name), params: NO_PARAMS })));
}

const shardName = (shard: string) => `${SHARD_SCHEMA}.${quoteIdent(shard)}`;
