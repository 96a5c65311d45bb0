// Published retriever page: builds the form from /api/config, searches through /api/search, renders per field_config.
/* global document, location */
const base = document.body.dataset.base;
const $ = (id) => document.getElementById(id);
const state = { config: null, page: 1, pageSize: 10, inputs: {}, password: '' };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function applyTheme(theme, layout) {
  const root = document.documentElement.style;
  const vars = { primary_color: '--primary', background_color: '--bg', text_color: '--text', surface_color: '--surface', muted_color: '--muted', border_color: '--border', border_radius: '--radius', font_family: '--font' };
  for (const [k, v] of Object.entries(vars)) if (typeof theme[k] === 'string') root.setProperty(v, theme[k]);
  root.setProperty('--columns', String(layout.columns || 3));
  root.setProperty('--gap', layout.gap || '16px');
  if (layout.full_width) document.body.classList.add('full');
}

function buildForm(cfg) {
  const box = $('fields');
  for (const input of cfg.inputs) {
    const id = `in-${input.field_name}`;
    const helpId = input.helper_text ? `${id}-help` : undefined;
    let control;
    if (input.enum && input.enum.length) {
      control = el('select', { id, name: input.field_name, required: input.required, 'aria-describedby': helpId });
      if (!input.required) control.append(el('option', { value: '', text: 'Any' }));
      for (const v of input.enum) control.append(el('option', { value: String(v), text: String(v) }));
    } else if (input.input_type === 'number') {
      control = el('input', { id, name: input.field_name, type: 'number', required: input.required, placeholder: input.placeholder, 'aria-describedby': helpId });
    } else if (input.input_type === 'checkbox') {
      control = el('input', { id, name: input.field_name, type: 'checkbox', 'aria-describedby': helpId });
    } else {
      control = el('input', { id, name: input.field_name, type: 'search', required: input.required, placeholder: input.placeholder, autocomplete: 'off', 'aria-describedby': helpId });
    }
    const label = el('label', { for: id, text: input.label });
    if (input.required) label.append(el('span', { class: 'req', 'aria-hidden': 'true', text: ' *' }));
    const row = el('div', { class: 'field' }, label, control);
    if (helpId) row.append(el('p', { id: helpId, class: 'help', text: input.helper_text }));
    if (input.suggestions.length) {
      const chips = el('div', { class: 'chips', role: 'group', 'aria-label': `Suggestions for ${input.label}` });
      for (const s of input.suggestions) {
        const b = el('button', { type: 'button', class: 'chip', text: s });
        b.addEventListener('click', () => {
          control.value = s;
          $('search').requestSubmit();
        });
        chips.append(b);
      }
      row.append(chips);
    }
    box.append(row);
  }
  if (cfg.password_required) $('password-row').hidden = false;
}

function readInputs(cfg) {
  const out = {};
  for (const input of cfg.inputs) {
    const c = $(`in-${input.field_name}`);
    if (c.type === 'checkbox') out[input.field_name] = c.checked;
    else if (c.type === 'number') { if (c.value !== '') out[input.field_name] = Number(c.value); }
    else if (c.value.trim() !== '') out[input.field_name] = c.value.trim();
  }
  return out;
}

function formatDate(v, fmt) {
  const d = new Date(typeof v === 'number' && v < 1e12 ? v * 1000 : v);
  if (Number.isNaN(d.getTime())) return String(v);
  if (fmt === 'iso') return d.toISOString();
  if (fmt === 'relative') {
    const s = Math.round((d.getTime() - Date.now()) / 1000);
    const units = [['year', 31536000], ['month', 2592000], ['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
    const [unit, size] = units.find(([, n]) => Math.abs(s) >= n) || units[units.length - 1];
    return new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(Math.round(s / size), unit);
  }
  return d.toLocaleString();
}

function formatTime(sec) {
  const s = Math.max(0, Math.floor(Number(sec)));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function safeUrl(v) {
  try {
    const u = new URL(String(v), location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

/** One field's value as a node, per its field_config entry (text when none). */
function renderValue(field, value, fc) {
  const fmt = fc ? fc.format : 'text';
  const o = (fc && fc.format_options) || {};
  if (fmt === 'image') {
    const u = safeUrl(value);
    if (!u) return null;
    const img = el('img', { src: u.href, alt: o.label || field, loading: o.lazy_load === false ? 'eager' : 'lazy', width: o.width, height: o.height, class: 'thumb' });
    if (o.object_fit) img.style.objectFit = o.object_fit;
    if (o.aspect_ratio) img.style.aspectRatio = o.aspect_ratio;
    return img;
  }
  if (fmt === 'url') {
    const u = safeUrl(value);
    if (!u) return document.createTextNode(String(value));
    const a = el('a', { href: u.href, text: o.show_domain ? u.hostname : u.href });
    if (o.open_in_new_tab !== false) { a.target = '_blank'; a.rel = 'noopener noreferrer'; }
    return a;
  }
  if (fmt === 'date') return el('time', { datetime: String(value), text: formatDate(value, o.date_format || 'relative') });
  if (fmt === 'number') {
    const n = Number(value);
    const s = Number.isFinite(n) ? (o.decimals !== undefined ? n.toFixed(o.decimals) : String(n)) : String(value);
    return document.createTextNode(`${o.prefix || ''}${s}${o.suffix || ''}`);
  }
  if (fmt === 'boolean') return document.createTextNode(value ? (o.true_label || 'Yes') : (o.false_label || 'No'));
  if (fmt === 'array' && Array.isArray(value)) {
    const items = o.max_items ? value.slice(0, o.max_items) : value;
    return document.createTextNode(items.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(o.separator || ', '));
  }
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (o.truncate_chars && text.length > o.truncate_chars) text = `${text.slice(0, o.truncate_chars).trimEnd()}…`;
  return document.createTextNode(text);
}

/** Page and time links: a `page_number` or `start_time` field becomes a badge (a link when the result has a URL). */
function locator(fields) {
  if (fields.page_number !== undefined && fields.page_number !== null) return `Page ${fields.page_number}`;
  if (fields.start_time !== undefined && fields.start_time !== null) return `At ${formatTime(fields.start_time)}`;
  return null;
}

/** Results as cards (grid and list layouts). */
function renderCards(data) {
  const cfg = state.config;
  const titleField = cfg.field_mappings.title || cfg.exposed_fields.find((f) => /(^|\.)title$/.test(f)) || cfg.exposed_fields[0];
  const list = el('ol', { class: 'cards', start: String((data.pagination.page - 1) * data.pagination.page_size + 1) });
  for (const r of data.results) {
    const card = el('li', { class: 'card' });
    const heading = r.fields[titleField];
    card.append(el('h2', { class: 'card-title', text: heading === null || heading === undefined ? r.document_id || 'Result' : String(heading) }));
    const meta = el('p', { class: 'meta' });
    if (typeof r.score === 'number') meta.append(el('span', { class: 'score', text: `Score ${r.score.toFixed(3)}` }));
    const loc = locator(r.fields);
    if (loc) meta.append(el('span', { class: 'locator', text: loc }));
    if (meta.childNodes.length) card.append(meta);
    const dl = el('dl', { class: 'fields' });
    for (const f of cfg.exposed_fields) {
      if (f === titleField) continue;
      const fc = cfg.field_config[f];
      const v = r.fields[f];
      const empty = v === null || v === undefined || v === '';
      if (empty && !(fc && fc.format_options && fc.format_options.show_empty)) continue;
      const node = empty ? document.createTextNode('—') : renderValue(f, v, fc);
      if (!node) continue;
      if (fc && fc.format === 'image') { card.prepend(node); continue; }
      dl.append(el('dt', { text: (fc && fc.format_options && fc.format_options.label) || f }), el('dd', {}, node));
    }
    card.append(dl);
    list.append(card);
  }
  return list;
}

/** Results as a table (table layout): one column per exposed field, then the score. */
function renderTable(data) {
  const cfg = state.config;
  const table = el('table', { class: 'rtable' }, el('caption', { class: 'sr-only', text: 'Search results' }));
  const head = el('tr', {}, el('th', { scope: 'col', text: '#' }));
  for (const f of cfg.exposed_fields) head.append(el('th', { scope: 'col', text: (cfg.field_config[f] && cfg.field_config[f].format_options && cfg.field_config[f].format_options.label) || f }));
  head.append(el('th', { scope: 'col', text: 'Score' }));
  const body = el('tbody');
  data.results.forEach((r, i) => {
    const row = el('tr', {}, el('td', { text: String((data.pagination.page - 1) * data.pagination.page_size + i + 1) }));
    for (const f of cfg.exposed_fields) {
      const v = r.fields[f];
      const node = v === null || v === undefined || v === '' ? null : renderValue(f, v, cfg.field_config[f]);
      row.append(el('td', {}, node));
    }
    row.append(el('td', { class: 'score', text: typeof r.score === 'number' ? r.score.toFixed(3) : '' }));
    body.append(row);
  });
  table.append(el('thead', {}, head), body);
  return table;
}

function renderResults(data) {
  const cfg = state.config;
  const box = $('results');
  box.replaceChildren();
  box.className = `results ${cfg.layout.mode}`;
  if (cfg.layout.mode === 'table') box.append(renderTable(data));
  else box.append(renderCards(data));
  const p = data.pagination;
  const pages = Math.max(1, Math.ceil(p.total / p.page_size));
  $('pager').hidden = pages <= 1 && !p.has_previous;
  $('prev').disabled = !p.has_previous;
  $('next').disabled = !p.has_next;
  $('page-info').textContent = `Page ${p.page} of ${pages}`;
}

function setStatus(text, kind) {
  const s = $('status');
  s.textContent = text;
  s.className = `status ${kind || ''}`;
}

async function search(page) {
  const cfg = state.config;
  state.page = page;
  setStatus('Searching…', 'busy');
  $('go').disabled = true;
  try {
    const headers = { 'content-type': 'application/json' };
    if (cfg.password_required) headers['x-retriever-password'] = $('password').value;
    const res = await fetch(`${base}/api/search`, { method: 'POST', headers, body: JSON.stringify({ inputs: state.inputs, page, page_size: state.pageSize }) });
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      $('results').replaceChildren();
      $('pager').hidden = true;
      const msg = (data && data.error && data.error.message) || `search failed (${res.status})`;
      if (res.status === 401) { setStatus(msg === 'wrong password' ? 'Wrong password: try again.' : msg, 'error'); $('password').focus(); }
      else setStatus(msg, 'error');
      return;
    }
    if (data.results.length === 0) {
      $('results').replaceChildren(el('p', { class: 'empty', text: 'No results. Try other words.' }));
      $('pager').hidden = true;
      setStatus('No results.', 'empty');
      return;
    }
    renderResults(data);
    setStatus(`${data.pagination.total} result${data.pagination.total === 1 ? '' : 's'} — page ${data.pagination.page}`, 'ok');
  } catch {
    setStatus('The search could not reach the server: check your connection and try again.', 'error');
  } finally {
    $('go').disabled = false;
  }
}

async function main() {
  try {
    const res = await fetch(`${base}/api/config`);
    if (!res.ok) throw new Error(String(res.status));
    state.config = await res.json();
  } catch {
    setStatus('This page is not available.', 'error');
    return;
  }
  applyTheme(state.config.theme, state.config.layout);
  state.pageSize = state.config.layout.page_size || 10;
  buildForm(state.config);
  $('search').addEventListener('submit', (e) => {
    e.preventDefault();
    const inputs = readInputs(state.config);
    const missing = state.config.inputs.find((i) => i.required && inputs[i.field_name] === undefined);
    if (missing) {
      setStatus(`${missing.label} is required.`, 'error');
      $(`in-${missing.field_name}`).focus();
      return;
    }
    state.inputs = inputs;
    void search(1);
  });
  $('prev').addEventListener('click', () => void search(state.page - 1));
  $('next').addEventListener('click', () => void search(state.page + 1));
  const first = state.config.inputs[0];
  if (first) $(`in-${first.field_name}`).focus();
  document.body.classList.add('ready');
}

void main();
