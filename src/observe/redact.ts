// What may be logged of a statement's text: passwords in connection strings (vecshard.add_node('postgres://u:pw@…'),
// dblink, …) and in PASSWORD clauses (CREATE / ALTER ROLE … PASSWORD '…') are replaced by ***. Logs never hold them.

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s'"]*:)([^@\s'"]*)(@)/gi;
const KEYWORD_PASSWORD = /(\bpassword\s*(?:=\s*)?)('(?:[^']|'')*'|"(?:[^"]|"")*"|[^\s'",;)]+)/gi;

export function redactSql(text: string): string {
  return text.replace(URL_PASSWORD, '$1***$3').replace(KEYWORD_PASSWORD, (_, k: string, v: string) => `${k}${v.startsWith("'") ? "'***'" : '***'}`);
}
