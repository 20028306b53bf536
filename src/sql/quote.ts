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

/**
 * A table name as text ('items', 'app.items', '"My.Table"'), read as Postgres reads a regclass: dots outside double
 * quotes separate schema and name, quoted parts keep their case and dots (`""` is a quote), others are lowercased.
 * Undefined when it is not one or two such parts.
 */
export function parseQualifiedName(text: string): { schema: string | undefined; name: string } | undefined {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    let part = '';
    if (text[i] === '"') {
      for (i++; i < text.length; i++) {
        if (text[i] === '"' && text[i + 1] === '"') (part += '"'), i++;
        else if (text[i] === '"') break;
        else part += text[i];
      }
      if (text[i] !== '"' || !part) return undefined;
      i++;
    } else {
      const end = text.indexOf('.', i);
      part = text.slice(i, end < 0 ? text.length : end).trim().toLowerCase();
      if (!part || part.includes('"')) return undefined;
      i = end < 0 ? text.length : end;
    }
    parts.push(part);
    if (i >= text.length) break;
    if (text[i] !== '.') return undefined;
    i++;
  }
  if (parts.length === 1) return { schema: undefined, name: parts[0] };
  if (parts.length === 2) return { schema: parts[0], name: parts[1] };
  return undefined;
}
