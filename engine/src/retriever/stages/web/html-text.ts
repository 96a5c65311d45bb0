/**
 * Readable text of an HTML page for web_scrape: the title, the meta description and the visible text (scripts,
 * styles, templates and comments dropped, block elements as line breaks, entities decoded, whitespace collapsed).
 * Linear regular expressions over at most MAX_HTML characters; no DOM, nothing of the page is executed.
 */
const MAX_HTML = 5_000_000;

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', mdash: '—', ndash: '–', hellip: '…', copy: '©', reg: '®' };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,8});/gi, (m, e: string) => {
    if (e[0] === '#') {
      const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : m;
    }
    return NAMED[e.toLowerCase()] ?? m;
  });
}

/** Removes every `<tag …>…</tag>` of the given names (case-insensitive), scanning once. */
function dropElements(html: string, names: string[]): string {
  let out = '';
  let i = 0;
  const lower = html.toLowerCase();
  const open = new RegExp(`<(${names.join('|')})\\b`, 'g');
  for (let m = open.exec(lower); m; m = open.exec(lower)) {
    out += html.slice(i, m.index);
    const close = lower.indexOf(`</${m[1]}`, m.index);
    if (close < 0) return out;
    const end = lower.indexOf('>', close);
    i = end < 0 ? html.length : end + 1;
    open.lastIndex = i;
  }
  return out + html.slice(i);
}

function dropComments(html: string): string {
  let out = '';
  let i = 0;
  for (let at = html.indexOf('<!--'); at >= 0; at = html.indexOf('<!--', i)) {
    out += html.slice(i, at) + ' ';
    const end = html.indexOf('-->', at + 4);
    if (end < 0) return out;
    i = end + 3;
  }
  return out + html.slice(i);
}

export interface PageText {
  title: string;
  text: string;
  description?: string;
}

export function htmlToText(input: string): PageText {
  const html = input.length > MAX_HTML ? input.slice(0, MAX_HTML) : input;
  const title = decodeEntities(/<title\b[^>]*>([^<]*)<\/title>/i.exec(html)?.[1] ?? '').replace(/\s+/g, ' ').trim();
  const desc = /<meta\b[^>]*name=["']description["'][^>]*>/i.exec(html)?.[0];
  const description = desc ? decodeEntities(/content=["']([^"']*)["']/i.exec(desc)?.[1] ?? '').trim() : undefined;
  let body = dropComments(html);
  body = dropElements(body, ['script', 'style', 'noscript', 'template', 'head', 'svg']);
  body = body.replace(/<\/?(p|div|br|li|ul|ol|h[1-6]|tr|table|section|article|header|footer|nav|pre|blockquote)\b[^>]*>/gi, '\n').replace(/<[^>]*>/g, ' ');
  const text = decodeEntities(body)
    .split('\n')
    .map((l) => l.replace(/[ \t\r\f\v\u00a0]+/g, ' ').trim())
    .filter(Boolean)
    .join('\n');
  return { title, text, ...(description ? { description } : {}) };
}
