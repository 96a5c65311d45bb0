/**
 * The endpoints a tenant points its spec at in the Secret-reference attacks (secret-refs.test.ts, local mode, and
 * test/cluster/secret-refs.test.ts): one loopback HTTP server answering as an OpenAI-compatible provider
 * (POST …/chat/completions: {"keep": true}) and as the Brave Search API (one result), recording every request it
 * receives, and a loopback TCP port standing for a database, counting connections. A test asserts that none of them
 * ever sees a value of another tenant's Secrets.
 */
import http from 'node:http';
import net from 'node:net';

export interface Endpoints {
  /** http://127.0.0.1:<port> */
  web: string;
  /** Every request received: method, URL, headers and body, as one line of text. */
  received: string[];
  /** The TCP port standing for a database. */
  dbPort: number;
  dbConnections(): number;
  close(): Promise<void>;
}

const BRAVE_RESULT = { type: 'search', web: { results: [{ title: 'a result', url: 'https://docs.example.org/1', description: 'a note about the query' }] } };

export async function startEndpoints(): Promise<Endpoints> {
  const received: string[] = [];
  let connections = 0;
  const web = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)} ${Buffer.concat(chunks).toString()}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.endsWith('/chat/completions')) {
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: '{"keep": true}' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
      } else res.end(JSON.stringify(BRAVE_RESULT));
    });
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const db = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => db.listen(0, '127.0.0.1', r));
  return {
    web: `http://127.0.0.1:${(web.address() as net.AddressInfo).port}`,
    received,
    dbPort: (db.address() as net.AddressInfo).port,
    dbConnections: () => connections,
    close: async () => {
      await new Promise((r) => web.close(r));
      await new Promise((r) => db.close(r));
    },
  };
}

type Json = Record<string, unknown>;

/** A QuarryNamespace `name`'s spec with spec.llm, spec.webSearch and spec.sqlConnections naming the given Secrets. */
export function secretSpec(e: Endpoints, refs: { llm: Json; webSearch: Json; sql: Json }): Json {
  return {
    llm: { provider: 'openai', baseUrl: `${e.web}/v1`, model: 'm', apiKeySecretRef: refs.llm },
    webSearch: { engine: 'brave', url: `${e.web}/res/v1/web/search`, apiKeySecretRef: refs.webSearch },
    sqlConnections: [{ name: 'db', type: 'postgresql', urlSecretRef: refs.sql }],
  };
}

export const stageOf = (id: string, parameters: Json) => ({ stage_id: id, parameters });
/** A prompt of its own each time: the inference cache never answers it from an earlier run. */
export const llmStage = () => stageOf('llm_filter', { criteria: `keep notes about {{INPUT.q}} (${Date.now()}-${Math.random()})`, content_field: 'title' });
export const searchStage = stageOf('external_web_search', { query: '{{INPUT.q}}', num_results: 3 });
export const sqlStage = stageOf('sql_lookup', { connection_id: 'db', query: 'SELECT 1', on_error: 'raise' });
