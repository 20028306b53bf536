// Passwords never reach a log: connection strings and PASSWORD clauses are redacted, the rest of the text kept.
import { expect, it } from 'vitest';
import { redactSql } from './redact.ts';

it('redacts passwords in connection strings and PASSWORD clauses, and nothing else', () => {
  expect(redactSql("SELECT vecshard.add_node('postgres://app:s3cr3t@10.0.0.5:5432')")).toBe("SELECT vecshard.add_node('postgres://app:***@10.0.0.5:5432')");
  expect(redactSql("SELECT vecshard.add_node('postgresql://app:p%40ss@h/db?sslmode=require')")).toBe("SELECT vecshard.add_node('postgresql://app:***@h/db?sslmode=require')");
  expect(redactSql("ALTER ROLE app PASSWORD 'it''s secret'")).toBe("ALTER ROLE app PASSWORD '***'");
  expect(redactSql("CREATE USER u WITH PASSWORD 'x' VALID UNTIL 'infinity'")).toBe("CREATE USER u WITH PASSWORD '***' VALID UNTIL 'infinity'");
  expect(redactSql("SELECT dblink_connect('host=h user=u password=hunter2 dbname=d')")).toBe("SELECT dblink_connect('host=h user=u password=*** dbname=d')");
  const plain = "SELECT id FROM docs WHERE title = 'a:b@c' ORDER BY embedding <-> '[1,0]' LIMIT 3";
  expect(redactSql(plain)).toBe(plain);
});
