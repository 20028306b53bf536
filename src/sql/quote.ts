// The one place SQL text is quoted. Every name and value the coordinator writes into SQL of its own goes through
// these; values that can be parameters should be.

/**
 * A SQL string literal. With a backslash in it, an E'' literal: its meaning then does not depend on the node
 * session's standard_conforming_strings.
 */
export function quoteLiteral(s: string): string {
  const q = s.replace(/'/g, "''");
  return s.includes('\\') ? `E'${q.replace(/\\/g, '\\\\')}'` : `'${q}'`;
}

/** A SQL identifier, quoted only when it must be. */
export function quoteIdent(s: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(s) ? s : quoteName(s);
}

/** A SQL identifier, always quoted (for names the planner makes up or copies, which may be keywords). */
export function quoteName(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
