// Recursive planning (Citus's model): a subquery or CTE that reads tables cannot run inside each shard, so it runs
// first as a statement of its own; its rows (an intermediate result) are put back into the statement as constants
// — a scalar, or a VALUES list — and the statement is planned again. What is left then runs inside each shard, or
// on the home node when it no longer names a distributed table.
import { walk, type Node } from '../sql/ast.ts';
import { parseSql, type RawStmt } from '../sql/parse.ts';
import { quoteLiteral, quoteName } from '../sql/quote.ts';
import { PgError, notSupported } from '../errors.ts';
import type { ErrorPlan } from './types.ts';
import type { Catalog } from '../metadata/catalog.ts';
import { constantCtes, readsRelations } from './relations.ts';

/** Rows of a query run first: column names and type names (as the home node spells them), values as text. */
export interface IntermediateResult {
  columns: Array<{ name: string; type: string }>;
  rows: Array<Array<string | null>>;
}

export interface SubStep {
  /** What it is, for errors: "CTE q", "a subquery in FROM", ... */
  what: string;
  /** The query to run first (with the WITH clause it may refer to). */
  stmt: Node;
  /** Puts its result into the statement. */
  put(ir: IntermediateResult): void;
}

export interface RecursivePlan {
  kind: 'recursive';
  /** The statement (a copy), with each step's result put in as the step runs. */
  stmt: Node;
  steps: SubStep[];
  /** vecshard.max_intermediate_result_size in bytes (-1: no limit). */
  maxBytes: number;
  /** INSERT ... SELECT: when the SELECT returns no row, the INSERT runs on the home node's shell (inserting none). */
  insertSelect: boolean;
}

const KINDS = ['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt'];

/**
 * The steps a statement needs before it can run on the shards, or undefined when it needs none. `stmt` is
 * copied; the copy is the plan's statement.
 */
export function planSubqueries(kind: string, original: Node, maxBytes: number): RecursivePlan | ErrorPlan | undefined {
  if (!KINDS.includes(kind) || !mayNeedSteps(kind, original)) return undefined;
  const stmt = structuredClone(original);
  const body = stmt[kind];
  const steps: SubStep[] = [];
  const ctes = new Set<string>();
  const withClause = body.withClause?.WithClause ?? body.withClause;
  // Every step runs with the statement's WITH clause, so it may refer to CTEs (by then constants themselves).
  const withCtes = (select: Node): Node => {
    const earlier = withClause ? withClause.ctes.filter((c: Node) => ctes.has(c.CommonTableExpr.ctename)) : [];
    const own = select.SelectStmt.withClause;
    return earlier.length ? { SelectStmt: { ...select.SelectStmt, withClause: { ...(own ?? withClause), recursive: false, ctes: [...earlier, ...(own?.ctes ?? [])] } } } : select;
  };
  if (withClause) {
    if (withClause.recursive) return notSupported('WITH RECURSIVE');
    for (const c of withClause.ctes as Node[]) {
      const cte = c.CommonTableExpr;
      if (!cte.ctequery.SelectStmt) return notSupported('a data-modifying statement in WITH');
      if (readsRelations(cte.ctequery, ctes)) {
        const query = withCtes(cte.ctequery);
        steps.push({ what: `CTE ${cte.ctename}`, stmt: query, put: (ir) => (cte.ctequery = valuesSelect(ir)) });
      }
      ctes.add(cte.ctename);
    }
  }
  let refused: ErrorPlan | undefined;
  const visit = (tree: Node | undefined) =>
    walk(tree, (n, key) => {
      if (key === 'withClause' || refused) return false;
      if (n.SubLink) {
        const s = n.SubLink;
        if (!readsRelations(s.subselect, ctes)) return false;
        if (s.subLinkType === 'EXPR_SUBLINK') {
          steps.push({ what: 'a scalar subquery', stmt: withCtes(s.subselect), put: (ir) => replace(n, scalar(ir)) });
        } else if (['ANY_SUBLINK', 'ALL_SUBLINK', 'EXISTS_SUBLINK', 'ARRAY_SUBLINK'].includes(s.subLinkType)) {
          steps.push({ what: 'a subquery', stmt: withCtes(s.subselect), put: (ir) => (s.subselect = valuesSelect(ir)) });
        } else refused = notSupported(`a ${s.subLinkType} subquery`);
        return false;
      }
      if (n.RangeSubselect) {
        const r = n.RangeSubselect;
        if (!readsRelations(r.subquery, ctes)) return false;
        if (r.lateral) {
          refused = notSupported('LATERAL subqueries');
          return false;
        }
        steps.push({ what: 'a subquery in FROM', stmt: withCtes(r.subquery), put: (ir) => (r.subquery = valuesSelect(ir)) });
        return false;
      }
    });
  // UPDATE ... FROM and DELETE ... USING: the other tables' rows come first, and the write joins them on each shard.
  for (const list of [body.fromClause, body.usingClause]) {
    if (kind === 'SelectStmt' || !list) continue;
    for (const item of list as Node[]) wrapTables(item, () => true, ctes);
  }
  let insertSelect = false;
  if (kind === 'InsertStmt') {
    const sel = body.selectStmt;
    if (sel && !sel.SelectStmt?.valuesLists) {
      // INSERT ... SELECT: the SELECT's rows become the INSERT's VALUES, each routed to its shard.
      insertSelect = true;
      steps.push({ what: 'the SELECT of INSERT ... SELECT', stmt: withCtes(sel), put: (ir) => (body.selectStmt = ir.rows.length ? valuesList(ir) : valuesSelect(ir)) });
    } else visit(sel);
    visit(body.onConflictClause);
    visit(body.returningList);
  } else if (kind === 'SelectStmt' && body.op !== 'SETOP_NONE') {
    // UNION / INTERSECT / EXCEPT: each arm that reads tables runs first; the set operation runs on the results.
    for (const arm of ['larg', 'rarg'] as const) {
      if (readsRelations(body[arm], ctes)) steps.push({ what: `the ${arm === 'larg' ? 'left' : 'right'} side of ${body.op.slice(6)}`, stmt: withCtes({ SelectStmt: body[arm] }), put: (ir) => (body[arm] = valuesSelect(ir).SelectStmt) });
    }
  } else {
    for (const k in body) if (k !== 'withClause') visit(body[k]);
  }
  if (refused) return refused;
  if (!steps.length) return undefined;
  return { kind: 'recursive', stmt, steps, maxBytes, insertSelect };
}

/** Turns the relations in a FROM item (through its joins) for which `which` holds into subqueries in FROM. */
function wrapTables(n: Node, which: (rv: Node) => boolean, ctes: Set<string>, where?: { from: Node[]; stmt: Node }): number {
  if (n.JoinExpr) return wrapTables(n.JoinExpr.larg, which, ctes) + wrapTables(n.JoinExpr.rarg, which, ctes);
  const rv = n.RangeVar;
  if (!rv || (rv.schemaname === undefined && ctes.has(rv.relname)) || !which(rv)) return 0;
  const inner: Node = { targetList: [{ ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } }], fromClause: [{ RangeVar: rv }], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' };
  // A table alone in FROM keeps the WHERE with its rows' query, so the shards filter.
  if (where && where.from.length === 1 && where.from[0] === n && where.stmt.whereClause) {
    inner.whereClause = where.stmt.whereClause;
    delete where.stmt.whereClause;
  }
  replace(n, { RangeSubselect: { subquery: { SelectStmt: inner }, alias: rv.alias ?? { aliasname: rv.relname } } });
  return 1;
}

/**
 * A SELECT the shards cannot answer as it is (an aggregate that does not split into partial ones, DISTINCT ON,
 * window functions, a join of two distributed tables or with a plain table, ...) runs on the home node over the
 * rows of its distributed tables, brought there first: each becomes a subquery in FROM. A single table keeps its
 * WHERE inside the subquery, so the shards filter. Undefined for what cannot move (SELECT INTO, FOR UPDATE).
 */
export function pullUp(select: Node, catalog: Catalog, maxBytes: number): RecursivePlan | ErrorPlan | undefined {
  if (select.intoClause || select.lockingClause || select.op !== 'SETOP_NONE') return undefined;
  const stmt = structuredClone(select);
  let moved = 0;
  const from = (stmt.fromClause ?? []) as Node[];
  for (const item of from) moved += wrapTables(item, (rv) => !!catalog.get(rv.schemaname ?? 'public', rv.relname), constantCtes(stmt), { from, stmt });
  if (!moved) return undefined;
  return planSubqueries('SelectStmt', { SelectStmt: stmt }, maxBytes);
}

/** Whether a statement has anything that might run first, found in one pass and kept per parsed statement. */
const shapes = new WeakMap<Node, boolean>();
function mayNeedSteps(kind: string, stmt: Node): boolean {
  let known = shapes.get(stmt);
  if (known !== undefined) return known;
  const body = stmt[kind];
  known =
    !!body.withClause ||
    !!body.fromClause?.length && kind !== 'SelectStmt' ||
    !!body.usingClause?.length ||
    (kind === 'SelectStmt' && body.op !== 'SETOP_NONE') ||
    (kind === 'InsertStmt' && !!body.selectStmt && !body.selectStmt.SelectStmt?.valuesLists);
  if (!known) {
    walk(body, (n) => {
      if (known) return false;
      if (n.SubLink || n.RangeSubselect) known = true;
    });
  }
  shapes.set(stmt, known);
  return known;
}

/** Replaces a node's content in place (the parent's reference stays). */
function replace(n: Node, by: Node): void {
  for (const k of Object.keys(n)) delete n[k];
  Object.assign(n, by);
}

const typed = (v: string | null, type: string) => (v === null ? `NULL::${type}` : `${quoteLiteral(v)}::${type}`);

/** A parsed expression or statement made from SQL text the coordinator wrote. */
function parseOne(sql: string): Node {
  const r = parseSql(sql);
  if (r instanceof Error) throw new PgError({ severity: 'ERROR', code: 'XX000', message: `vecshard: could not put an intermediate result back into the statement: ${r.message}` });
  return (r as RawStmt[])[0].stmt;
}

/** A scalar subquery's value: its one column of at most one row, as Postgres requires. */
function scalar(ir: IntermediateResult): Node {
  if (ir.columns.length !== 1) throw new PgError({ severity: 'ERROR', code: '42601', message: 'subquery must return only one column' });
  if (ir.rows.length > 1) throw new PgError({ severity: 'ERROR', code: '21000', message: 'more than one row returned by a subquery used as an expression' });
  return parseOne(`SELECT ${typed(ir.rows[0]?.[0] ?? null, ir.columns[0].type)}`).SelectStmt.targetList[0].ResTarget.val;
}

/** The rows as a query: SELECT * FROM (VALUES ...) AS vecshard_ir(columns), typed even when empty. */
function valuesSelect(ir: IntermediateResult): Node {
  const cols = ir.columns.map((c) => quoteName(c.name)).join(', ');
  if (!ir.rows.length) return parseOne(`SELECT ${ir.columns.map((c) => `NULL::${c.type} AS ${quoteName(c.name)}`).join(', ')} WHERE false`);
  return parseOne(`SELECT * FROM (${valuesText(ir)}) AS vecshard_ir(${cols})`);
}

/** The rows as a bare VALUES list (the source of INSERT ... SELECT). */
function valuesList(ir: IntermediateResult): Node {
  return parseOne(valuesText(ir));
}

function valuesText(ir: IntermediateResult): string {
  return `VALUES ${ir.rows.map((r) => `(${r.map((v, i) => typed(v, ir.columns[i].type)).join(', ')})`).join(', ')}`;
}

/** vecshard.max_intermediate_result_size: kB as a bare number, or with kB/MB/GB; -1 for no limit. */
export function intermediateLimit(text: string | undefined): number | ErrorPlan {
  if (text === undefined || text === '') return 64 * 1024 * 1024;
  const m = /^\s*(-1|\d+)\s*(kB|MB|GB)?\s*$/i.exec(text);
  if (!m) return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `vecshard.max_intermediate_result_size must be a size such as 64MB, 65536 (kB) or -1, not "${text}"` } };
  if (m[1] === '-1') return -1;
  const unit = { kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'kB').toLowerCase() as 'kb' | 'mb' | 'gb'];
  return Number(m[1]) * unit;
}
