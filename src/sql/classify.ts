// What the coordinator must know about a statement before it runs anywhere.
import { parseSql, stmtKind, stmtText, type RawStmt } from './parse.ts';
import type { PgErrorFields } from '../protocol/backend.ts';

export type StatementClass =
  | { kind: 'createdb'; name: string; text: string }
  | { kind: 'dropdb'; name: string; ifExists: boolean; text: string }
  | { kind: 'copy-in'; text: string }
  /** Refused before it reaches a node (what vecshard cannot let a client do there). */
  | { kind: 'refused'; error: PgErrorFields; text: string }
  | { kind: 'other'; text: string };

export interface ClassifiedQuery {
  statements: StatementClass[];
  /** May change session settings (SET, RESET, DISCARD, set_config): re-read them after the transaction. */
  changesSettings: boolean;
  /** Leaves session state that cannot be replayed on another connection (temp tables, LISTEN, PREPARE, ...). */
  pins: boolean;
  /** The parser refused it; the node will report the error in its own words. */
  unparsed: boolean;
  /** Must run on every node (extensions, ALTER DATABASE/ROLE ... SET), so later shard connections see it. */
  allNodes: boolean;
  /** Dotted (extension or placeholder) settings it sets: pg_settings does not list placeholders, so they are tracked. */
  customSettings: string[];
}

const CURSOR_OPT_HOLD = 0x20;

/** Classifications by parse result: the parse cache hands the same object back for the same text. */
const classified = new WeakMap<object, ClassifiedQuery>();

/** Callers only read the result: it is shared by every use of the same statement text. */
export function classify(sql: string): ClassifiedQuery {
  const parsed = parseSql(sql);
  let q = classified.get(parsed);
  if (!q) classified.set(parsed, (q = classifyParsed(sql, parsed)));
  return q;
}

function classifyParsed(sql: string, parsed: RawStmt[] | Error): ClassifiedQuery {
  if (parsed instanceof Error) return { statements: [{ kind: 'other', text: sql }], changesSettings: false, pins: false, unparsed: true, customSettings: [], allNodes: false };
  const out: ClassifiedQuery = { statements: [], changesSettings: /set_config/i.test(sql), pins: /advisory_lock/i.test(sql), unparsed: false, customSettings: [], allNodes: false };
  for (const m of sql.matchAll(/set_config\s*\(\s*'([a-z0-9_]+\.[a-z0-9_.]+)'/gi)) out.customSettings.push(m[1].toLowerCase());
  for (const s of parsed) out.statements.push(classifyOne(sql, s, out));
  return out;
}

function classifyOne(sql: string, s: RawStmt, q: ClassifiedQuery): StatementClass {
  const kind = stmtKind(s);
  const n = s.stmt[kind];
  const text = stmtText(sql, s);
  switch (kind) {
    case 'VariableSetStmt':
      // vecshard takes the client's role on a node with SET SESSION AUTHORIZATION (shards/login.ts); a client that
      // changed it would act as another role there, and in a later client's session.
      if (n.name === 'session_authorization') {
        return { kind: 'refused', text, error: { severity: 'ERROR', code: '0A000', message: 'vecshard: SET SESSION AUTHORIZATION is not supported', hint: 'Log in as that role, or use SET ROLE.' } };
      }
      if (!n.is_local) q.changesSettings = true;
      if (typeof n.name === 'string' && n.name.includes('.')) q.customSettings.push(n.name.toLowerCase());
      break;
    case 'DiscardStmt':
      q.changesSettings = true;
      break;
    case 'CreatedbStmt':
      return { kind: 'createdb', name: n.dbname, text };
    case 'DropdbStmt':
      return { kind: 'dropdb', name: n.dbname, ifExists: !!n.missing_ok, text };
    case 'CopyStmt':
      if (n.is_from && !n.filename) return { kind: 'copy-in', text };
      break;
    case 'CreateStmt':
    case 'CreateTableAsStmt':
    case 'ViewStmt':
    case 'CreateSeqStmt': {
      const rel = n.relation ?? n.into?.rel ?? n.view ?? n.sequence;
      if (rel?.relpersistence === 't') q.pins = true;
      break;
    }
    case 'CreateRoleStmt':
    case 'AlterRoleStmt':
    case 'DropRoleStmt':
    case 'GrantRoleStmt':
    case 'GrantStmt':
    case 'AlterDefaultPrivilegesStmt':
    case 'CreateSchemaStmt':
      // Roles and privileges are per node: every node gets them (planner/roles.ts).
      q.allNodes = true;
      break;
    case 'CreateExtensionStmt':
    case 'AlterExtensionStmt':
    case 'AlterDatabaseSetStmt':
    case 'AlterRoleSetStmt':
      if (n.extname !== 'citus') q.allNodes = true;
      break;
    case 'DropStmt':
      if (n.removeType === 'OBJECT_EXTENSION' || n.removeType === 'OBJECT_POLICY') q.allNodes = true;
      break;
    case 'ListenStmt':
    case 'PrepareStmt':
      q.pins = true;
      break;
    case 'DeclareCursorStmt':
      if ((n.options ?? 0) & CURSOR_OPT_HOLD) q.pins = true;
      break;
  }
  return { kind: 'other', text };
}

/**
 * `SET vecshard.probes = all`: ALL is a reserved word, so Postgres's grammar refuses it as a setting's value;
 * vecshard quotes it ('all') before parsing, so the documented form works.
 */
export function quoteProbesAll(sql: string): string {
  if (!/vecshard\.probes/i.test(sql)) return sql;
  // Only at the start of a statement: the same words inside a string, an identifier or a comment stay as they are.
  const setAll = /\s*(set\s+(?:session\s+|local\s+)?vecshard\.probes\s*(?:=|to)\s*)all\b/iy;
  let out = '';
  let from = 0;
  for (const start of statementStarts(sql)) {
    setAll.lastIndex = start;
    const m = setAll.exec(sql);
    if (!m) continue;
    out += sql.slice(from, start) + m[0].slice(0, -3) + "'all'";
    from = start + m[0].length;
  }
  return from ? out + sql.slice(from) : sql;
}

/** Where each statement of a query string begins: 0, and after each `;` outside strings, identifiers and comments. */
function statementStarts(sql: string): number[] {
  const starts = [0];
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === ';') starts.push(i + 1);
    else if (c === "'" || c === '"') {
      // 'it''s', "a""b", and E'\'' (a backslash escapes the quote in an E'' string).
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[a-zA-Z0-9_]/.test(sql[i - 2] ?? '');
      for (i++; i < sql.length; i++) {
        if (escapes && sql[i] === '\\') i++;
        else if (sql[i] === c && sql[i + 1] === c) i++;
        else if (sql[i] === c) break;
      }
    } else if (c === '-' && sql[i + 1] === '-') i = sql.indexOf('\n', i) < 0 ? sql.length : sql.indexOf('\n', i);
    else if (c === '/' && sql[i + 1] === '*') i = sql.indexOf('*/', i + 2) < 0 ? sql.length : sql.indexOf('*/', i + 2) + 1;
    else if (c === '$') {
      const tag = /^\$(?:[a-zA-Z_][a-zA-Z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? sql.length : end + tag[0].length - 1;
      }
    }
  }
  return starts;
}

// One plain SELECT/INSERT/UPDATE/DELETE (optionally with a trailing semicolon) whose text holds none of the words
// that make a statement special to vecshard: session state (set_config, advisory locks, INTO, TEMP), COPY,
// DDL, or vecshard's and Citus's functions.
const PLAIN = /^\s*(select|insert|update|delete|values|table)\b[^;]*;?\s*$/i;
const SPECIAL = /set_config|advisory|\btemp|\bcopy\b|\bcreate\b|\bdrop\b|\balter\b|vecshard|citus|distributed_table|reference_table|\bprepare\b|\blisten\b/i;

/**
 * What classify() would say of a plain statement, found without parsing: the text need not be parsed when it also
 * names no distributed table (pgbench -M simple sends new text for every query, so a parse cache cannot help).
 */
export function classifyPlain(sql: string): ClassifiedQuery | undefined {
  if (sql.length > 4000 || !PLAIN.test(sql) || SPECIAL.test(sql)) return undefined;
  if (/^\s*select\b/i.test(sql) && /\binto\b/i.test(sql)) return undefined; // SELECT … INTO creates a table
  return { statements: [{ kind: 'other', text: sql }], changesSettings: false, pins: false, unparsed: false, customSettings: [], allNodes: false };
}

const namePatterns = new WeakMap<object, RegExp | null>();

/**
 * Whether `sql` may name one of `names` (a word match, case-insensitive; quoted or not). False means it surely
 * names none of them; the pattern is kept per catalog object.
 */
export function mayName(sql: string, catalog: object, names: () => string[]): boolean {
  let re = namePatterns.get(catalog);
  if (re === undefined) {
    const list = names();
    // A name with a double quote in it appears in SQL with the quote doubled ("items""x").
    const spellings = [...new Set(list.flatMap((n) => [n, n.replace(/"/g, '""')]))];
    re = spellings.length ? new RegExp(`(?:^|[^a-z0-9_$])(?:${spellings.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?![a-z0-9_$])`, 'i') : null;
    namePatterns.set(catalog, re);
  }
  return re !== null && re.test(sql);
}
