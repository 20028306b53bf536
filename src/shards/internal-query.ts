// Queries the coordinator itself runs on a node connection (catalog, settings, resets): text results, errors thrown.
import { readCommandTag, readDataRow, readErrorFields, readRowDescription, type PgErrorFields } from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { type NodeConnection } from './node-connection.ts';
import { PgError } from '../errors.ts';

export interface TextResult {
  fields: string[];
  rows: Array<Array<string | null>>;
  tag: string;
}

/** Runs one simple query (which may hold several statements); returns the last result. */
export async function runQuery(conn: NodeConnection, sql: string): Promise<TextResult> {
  conn.write(fe.query(sql));
  let result: TextResult = { fields: [], rows: [], tag: '' };
  let error: PgErrorFields | undefined;
  await conn.readUntilReady((f) => {
    switch (f[0]) {
      case 0x54: // RowDescription
        result = { fields: readRowDescription(f).map((d) => d.name), rows: [], tag: '' };
        break;
      case 0x44: // DataRow
        result.rows.push(readDataRow(f).map((v) => (v === null ? null : v.toString('utf8'))));
        break;
      case 0x43: // CommandComplete
        result.tag = readCommandTag(f);
        break;
      case 0x45: // ErrorResponse
        error ??= readErrorFields(f);
        break;
    }
  });
  if (error) throw new PgError(error);
  return result;
}

