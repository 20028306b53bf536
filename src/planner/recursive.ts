// Recursive planning (Citus's model): a subquery or CTE that reads tables cannot run inside each shard, so it runs
// first as a statement of its own; its rows (an intermediate result) are put back into the statement as constants
// — a scalar, or a VALUES list — and the statement is planned again. What is left then runs inside each shard, or
// on the home node when it no longer names a distributed table.
import { parseMemory } from '../limits.ts';
import { cloneTree, deparse, walk, type Node } from '../sql/ast.ts';
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
  /**
   * Puts its result into the statement. A scalar goes in as a new parameter (`bind` gives its number), so the
   * statement's text — and its plan, its shard SQL, the statements prepared on the nodes — stays the same from one
   * run to the next.
   */
  put(ir: IntermediateResult, bind: (value: string | null) => number): void;
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
  /** The statement as planned (unchanged), for running it another way when a step turns out to be correlated. */
  original?: Node;
  /** Data-modifying CTEs: every step and the statement run in one transaction. */
  writes?: boolean;
}

const KINDS = ['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt'];

/**
 * The steps a statement needs before it can run on the shards, or undefined when it needs none. `stmt` is
 * copied; the copy is the plan's statement.
 */
export function planSubqueries(kind: string, original: Node, maxBytes: number, catalog?: Catalog): RecursivePlan | ErrorPlan | undefined {
  if (kind === 'CreateTableAsStmt' || (kind === 'SelectStmt' && original.SelectStmt.intoClause)) return createTableAs(original, maxBytes);
  if (!KINDS.includes(kind) || !mayNeedSteps(kind, original)) return undefined;
  const stmt = cloneTree(original);
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
  if (withClause?.ctes.some((c: Node) => !c.CommonTableExpr.ctequery.SelectStmt)) {
    if (withClause.recursive || !catalog) return notSupported('a data-modifying statement in WITH RECURSIVE', 'Run the INSERT, UPDATE or DELETE as a statement of its own, with RETURNING.');
    return writableCtes(stmt, kind, withClause, catalog, maxBytes);
  }
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
          steps.push({ what: 'a scalar subquery', stmt: withCtes(s.subselect), put: (ir, bind) => replace(n, scalar(ir, bind)) });
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
      steps.push({ what: 'the SELECT of INSERT ... SELECT', stmt: withCtes(sel), put: (ir) => {
        body.selectStmt = ir.rows.length ? valuesList(ir) : valuesSelect(ir);
        // The CTEs were for the SELECT, which is rows now.
        delete body.withClause;
      } });
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
  return { kind: 'recursive', stmt, steps, maxBytes, insertSelect, original };
}

/**
 * CREATE TABLE ... AS and SELECT ... INTO over distributed tables: the query runs first (distributed), and the home
 * node makes the table from its rows, with the columns' exact types — a plain table, as on one node.
 */
function createTableAs(original: Node, maxBytes: number): RecursivePlan | ErrorPlan {
  const select = original.SelectStmt;
  const stmt: Node = select
    ? { CreateTableAsStmt: { query: { SelectStmt: { ...cloneTree(select), intoClause: undefined } }, into: cloneTree(select.intoClause), objtype: 'OBJECT_TABLE' } }
    : cloneTree(original);
  const body = stmt.CreateTableAsStmt;
  if (body.objtype !== 'OBJECT_TABLE') {
    return notSupported('CREATE MATERIALIZED VIEW over a distributed table', 'A materialized view reads its tables again at each REFRESH. Use CREATE TABLE ... AS, or a view.');
  }
  // WITH NO DATA needs only the columns.
  const query = body.into.skipData ? parseOne(`SELECT * FROM (${deparse(body.query)}) AS vecshard_q LIMIT 0`) : body.query;
  const step: SubStep = { what: 'the query of CREATE TABLE AS', stmt: query, put: (ir) => (body.query = valuesSelect(ir)) };
  return { kind: 'recursive', stmt, steps: [step], maxBytes, insertSelect: false };
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
  const stmt = cloneTree(select);
  let moved = 0;
  const from = (stmt.fromClause ?? []) as Node[];
  for (const item of from) moved += wrapTables(item, (rv) => !!catalog.get(rv.schemaname ?? 'public', rv.relname), constantCtes(stmt), { from, stmt });
  if (!moved) return undefined;
  return planSubqueries('SelectStmt', { SelectStmt: stmt }, maxBytes);
}

/**
 * A statement with data-modifying CTEs, as Postgres runs it: every table it reads is read first (one snapshot,
 * before any write; the target of a main INSERT, UPDATE or DELETE is not read), then each CTE's INSERT / UPDATE /
 * DELETE runs once as a statement of its own, its RETURNING rows taking the CTE's place, then the statement itself
 * (`WITH moved AS (DELETE … RETURNING *) INSERT INTO other SELECT * FROM moved`); all of it in one transaction.
 */
function writableCtes(stmt: Node, kind: string, withClause: Node, catalog: Catalog, maxBytes: number): RecursivePlan {
  const reads = bringRows(stmt[kind], catalog, (n) => !!n.CommonTableExpr && !n.CommonTableExpr.ctequery.SelectStmt);
  const writes: SubStep[] = [];
  const done = new Set<string>();
  for (const c of withClause.ctes as Node[]) {
    const cte = c.CommonTableExpr;
    if (!cte.ctequery.SelectStmt) {
      const kind = Object.keys(cte.ctequery)[0];
      // The earlier CTEs it names (an INSERT ... VALUES names none, and planInsert takes no WITH).
      const named = new Set<string>();
      walk(cte.ctequery, (n) => {
        if (n.RangeVar && n.RangeVar.schemaname === undefined) named.add(n.RangeVar.relname);
      });
      const earlier = (withClause.ctes as Node[]).filter((x) => done.has(x.CommonTableExpr.ctename) && named.has(x.CommonTableExpr.ctename));
      const query = earlier.length ? { [kind]: { ...cte.ctequery[kind], withClause: { ctes: earlier } } } : cte.ctequery;
      writes.push({ what: `CTE ${cte.ctename}`, stmt: query, put: (ir) => (cte.ctequery = ir.columns.length ? valuesSelect(ir) : parseOne('SELECT WHERE false')) });
    }
    done.add(cte.ctename);
  }
  return { kind: 'recursive', stmt, steps: [...reads, ...writes], maxBytes, insertSelect: false, writes: true };
}

/**
 * Turns every distributed table `select` reads (outside subtrees `skip` says to leave) into a subquery in FROM
 * whose rows a step brings first.
 */
function bringRows(select: Node, catalog: Catalog | undefined, skip: (n: Node) => boolean = () => false): SubStep[] {
  const cteNames = new Set<string>();
  walk(select, (n) => {
    if (n.CommonTableExpr) cteNames.add(n.CommonTableExpr.ctename);
  });
  const steps: SubStep[] = [];
  walk(select, (n) => {
    if (skip(n)) return false;
    const rv = n.RangeVar;
    // Without a catalog: every relation (a plain table's rows must reach the shards too).
    if (!rv || (rv.schemaname === undefined && cteNames.has(rv.relname)) || (catalog && !catalog.get(rv.schemaname ?? 'public', rv.relname))) return;
    const inner: Node = { SelectStmt: { targetList: [{ ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } }], fromClause: [{ RangeVar: { ...rv, alias: undefined } }], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } };
    const sub: Node = { subquery: inner, alias: rv.alias ?? { aliasname: rv.relname } };
    replace(n, { RangeSubselect: sub });
    steps.push({ what: `the rows of ${rv.relname}`, stmt: inner, put: (ir) => (sub.subquery = valuesSelect(ir)) });
    return false;
  });
  return steps;
}

/**
 * A correlated subquery: the tables it reads come first, as rows; the subquery, now over constants, then runs inside
 * each shard's statement next to the outer rows it refers to. Undefined when no subquery reads a table.
 */
export function bringSubqueryTables(original: Node, maxBytes: number): RecursivePlan | undefined {
  const stmt = cloneTree(original);
  const steps: SubStep[] = [];
  walk(stmt, (n) => {
    if (!n.SubLink) return;
    steps.push(...bringRows(n.SubLink.subselect, undefined));
    return false;
  });
  return steps.length ? { kind: 'recursive', stmt, steps, maxBytes, insertSelect: false } : undefined;
}

/**
 * The last resort for a SELECT: every distributed table it reads, wherever (in a correlated subquery, a LATERAL
 * subquery, a recursive CTE), is brought to the home node first, and the whole statement runs there as on one
 * node. Each table's rows count against vecshard.max_intermediate_result_size.
 */
export function pullUpAll(select: Node, catalog: Catalog, maxBytes: number): RecursivePlan | undefined {
  if (select.intoClause || select.lockingClause) return undefined;
  const stmt = cloneTree(select);
  const steps = bringRows(stmt, catalog);
  if (!steps.length) return undefined;
  return { kind: 'recursive', stmt: { SelectStmt: stmt }, steps, maxBytes, insertSelect: false };
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
function scalar(ir: IntermediateResult, bind: (value: string | null) => number): Node {
  if (ir.columns.length !== 1) throw new PgError({ severity: 'ERROR', code: '42601', message: 'subquery must return only one column' });
  if (ir.rows.length > 1) throw new PgError({ severity: 'ERROR', code: '21000', message: 'more than one row returned by a subquery used as an expression' });
  return parseOne(`SELECT CAST($${bind(ir.rows[0]?.[0] ?? null)} AS ${ir.columns[0].type})`).SelectStmt.targetList[0].ResTarget.val;
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
  if (text.trim() === '-1') return -1;
  const bytes = parseMemory(text);
  if (bytes === undefined) return { kind: 'error', error: { severity: 'ERROR', code: '22023', message: `vecshard.max_intermediate_result_size must be a size such as 64MB, 65536 (kB) or -1, not "${text}"` } };
  return bytes;
}
