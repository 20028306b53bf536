// Who may do what to a distributed table holds on its shards too: every shard copy and shell has the table's
// owner, privileges (table and column), row-level security switches and policies. GRANT, REVOKE and policy
// statements reach the shards as they run (planner/roles.ts); a copy made later (repair, move, rebalance) reads
// them here from the table it copies.
import type { NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';

/** The statements that give `target` (a quoted, qualified name) the access rules of table `schema.name`. */
export async function tableAccess(conn: NodeConnection, schema: string, name: string): Promise<(target: string) => string[]> {
  const rel = `${quoteLiteral(`${quoteIdent(schema)}.${quoteIdent(name)}`)}::regclass`;
  const [owner, rls, force] = (await runQuery(conn, `SELECT pg_get_userbyid(relowner), relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = ${rel}`)).rows[0] ?? [];
  // Grants to others than the owner (the owner's own privileges come with ownership).
  const grants = await runQuery(
    conn,
    `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type, a.is_grantable, NULL
       FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = ${rel} AND a.grantee <> c.relowner
     UNION ALL
     SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type, a.is_grantable, quote_ident(t.attname)
       FROM pg_attribute t, aclexplode(t.attacl) a WHERE t.attrelid = ${rel} AND t.attacl IS NOT NULL AND NOT t.attisdropped`,
  );
  const policies = await runQuery(
    conn,
    `SELECT quote_ident(p.polname), p.polpermissive,
            CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
            (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', ') FROM unnest(p.polroles) r),
            pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
       FROM pg_policy p WHERE p.polrelid = ${rel} ORDER BY p.oid`,
  );
  return (target) => {
    const out: string[] = [];
    if (owner) out.push(`ALTER TABLE ${target} OWNER TO ${quoteIdent(owner)}`);
    for (const [grantee, privilege, grantable, column] of grants.rows) {
      out.push(`GRANT ${privilege}${column ? ` (${column})` : ''} ON ${target} TO ${grantee}${grantable === 't' ? ' WITH GRANT OPTION' : ''}`);
    }
    if (rls === 't') out.push(`ALTER TABLE ${target} ENABLE ROW LEVEL SECURITY`);
    if (force === 't') out.push(`ALTER TABLE ${target} FORCE ROW LEVEL SECURITY`);
    for (const [policy, permissive, cmd, roles, using, check] of policies.rows) {
      out.push(
        `CREATE POLICY ${policy} ON ${target} AS ${permissive === 't' ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${cmd} TO ${roles}` +
          `${using ? ` USING (${using})` : ''}${check ? ` WITH CHECK (${check})` : ''}`,
      );
    }
    return out;
  };
}
