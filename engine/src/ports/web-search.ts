/**
 * Web search port for the external_web_search stage: one query to a web search engine, its results in one shape.
 * Adapters (engine/src/websearch/adapters.ts): `exa` (Exa's POST /search, the reference's backend), `searxng`
 * (a SearXNG instance's JSON API), `brave` (the Brave Search API) and `json` (any JSON endpoint, its request and
 * result fields described in the configuration). Every adapter reaches only its configured endpoint's host, through
 * the SSRF guard. Which engine a namespace uses: its QuarryNamespace spec.webSearch, else the engine's
 * (QUARRY_WEB_SEARCH_*): engine/src/websearch/namespace-web-search.ts.
 *
 * Errors (QuarryError): TooManyRequestsError (429) when the engine rate-limits; InferenceServiceUnavailableError
 * (503) when it fails or answers in another shape; ForbiddenError (403) from the SSRF guard; TimeoutError (504).
 */
export interface WebSearchQuery {
  query: string;
  numResults: number;
  /** Let the engine rewrite the query (Exa's autoprompt); engines without it ignore it. */
  useAutoprompt?: boolean;
  /** YYYY-MM-DD: results published on or after it (by the engine where it can, else results with an older date are dropped). */
  startPublishedDate?: string;
  /** The reference's categories (research paper, news, github, …), mapped to the engine's own where it has them. */
  category?: string;
  includeDomains?: string[];
  excludeDomains?: string[];
  /** Ask for a text snippet per result. */
  includeText: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface WebSearchResult {
  url: string;
  title: string | null;
  text: string | null;
  publishedDate: string | null;
  author: string | null;
  /** The engine's relevance score; null when it gives none. */
  score: number | null;
}

export interface WebSearch {
  /** exa, searxng, brave or json: for messages and stage metadata. */
  readonly engine: string;
  search(q: WebSearchQuery): Promise<WebSearchResult[]>;
}
