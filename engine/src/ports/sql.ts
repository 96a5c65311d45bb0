/**
 * SQL port for the sql_lookup stage: a read-only session on one of a namespace's declared databases
 * (QuarryNamespace spec.sqlConnections). Adapter: engine/src/sql/postgres.ts (node-postgres).
 *
 * Every query runs as one parameterised statement (the extended protocol: several statements are refused by the
 * server) in its own READ ONLY transaction, under the session's statement timeout. Errors (QuarryError):
 * BadRequestError (400) for a statement the database refuses (a write, several statements, a syntax error),
 * TimeoutError (504) when it outlives the timeout, ServiceUnavailableError (503) when the database cannot be reached.
 */
export type SqlRow = Record<string, unknown>;

export interface SqlSession {
  query(sql: string, params: unknown[]): Promise<SqlRow[]>;
  close(): Promise<void>;
}

export interface SqlSessionOptions {
  /** Statement time limit in ms (also bounds connecting). */
  timeoutMs: number;
  /** Rows kept per query (more are dropped). */
  maxRows: number;
}

/** Opens a session on connection `connectionId` of the request's namespace; 400 naming connection_id when it has none. */
export type SqlConnector = (namespace: string | undefined, connectionId: string, o: SqlSessionOptions) => Promise<SqlSession>;
