/** The published quickstart page in headless Chromium (Debian's, via playwright-core): search, paging, password, rate limit. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from '../harness/test-env.ts';
import { startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'publish');
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-publish-page-'));
let rt: LocalRuntime;
let browser: Browser;
let page: Page;
/** Console errors and page errors; the failed loads a step expects (401, 429) are taken out by that step. */
const consoleErrors: string[] = [];

const shot = async (name: string) => {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(statSync(file).size > 1000, `screenshot ${file} was written`);
};
/** Removes the expected "Failed to load resource … status of <code>" messages; anything else stays an error. */
const expectFailedLoads = (code: number) => {
  for (let i = consoleErrors.length - 1; i >= 0; i--) if (consoleErrors[i]!.includes(`status of ${code}`)) consoleErrors.splice(i, 1);
};
const status = () => page.locator('#status').textContent();
/** Waits until the element's text starts with `prefix` (a locator wait: the page's CSP refuses string evaluation). */
const textStarts = (selector: string, prefix: string) => page.locator(selector, { hasText: new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) }).waitFor();

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; hack/ci/apt-packages.sh)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const manifestsDir = path.join(scratch, 'examples');
  cpSync(path.join(ROOT, 'examples'), manifestsDir, { recursive: true, filter: (src) => !src.includes(`${path.sep}gitops`) });
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir, host: '127.0.0.1', port: 0, manifestDebounceMs: 100 });
  assert.ok(rt.seed, 'the sample was seeded');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
});

after(async () => {
  await browser?.close();
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('the sample retriever is published at /p/quickstart: the form the display_config declares, focused, with a label', async () => {
  const res = await page.goto(`${rt.url}/p/quickstart`);
  assert.equal(res?.status(), 200);
  assert.match(res!.headers()['content-security-policy'] ?? '', /script-src 'self'/);
  await page.waitForSelector('body.ready');
  assert.equal(await page.title(), 'Quickstart search');
  const box = page.getByRole('searchbox', { name: 'Search' });
  assert.equal(await box.count(), 1, 'the query input is labelled "Search"');
  assert.equal(await box.getAttribute('placeholder'), 'e.g. how do I fix a flat tyre');
  assert.equal(await page.locator(':focus').getAttribute('id'), 'in-query', 'the first input has the focus');
  assert.equal(await page.getByRole('button', { name: 'starry night sky' }).count(), 1, 'the suggestion chips');
  assert.equal(await page.locator('#password').isVisible(), false, 'no password field on an open page');
  assert.equal(await page.locator('#pager').isVisible(), false, 'no pager before a search');
  await shot('01-open');
  assert.deepEqual(consoleErrors, []);
});

test('search with the keyboard: the expected first result, snippets, scores and the pager', async () => {
  await page.keyboard.type('starry night sky');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.card');
  assert.equal(await page.locator('.card').count(), 4, 'page size 4 (display_config.layout.page_size)');
  assert.equal(await page.locator('.card-title').first().textContent(), 'Night sky');
  const first = page.locator('.card').first();
  assert.match((await first.locator('.score').textContent()) ?? '', /^Score 0\.\d{3}$/);
  assert.match((await first.locator('dl').textContent()) ?? '', /SnippetA starry night sky/);
  assert.match((await first.locator('dl').textContent()) ?? '', /Indexed.*(now|second|minute)/, 'the date renders relative');
  assert.equal(await first.locator('dt', { hasText: 'Page' }).count(), 0, 'an empty page number is not shown (show_empty: false)');
  assert.match((await status()) ?? '', /^\d+ results — page 1$/);
  assert.match((await page.locator('#page-info').textContent()) ?? '', /^Page 1 of [3-9]$/);
  assert.equal(await page.locator('#prev').isDisabled(), true);
  await shot('02-results');
  assert.deepEqual(consoleErrors, []);
});

test('page through with Next and Previous (keyboard too)', async () => {
  const firstTitle = await page.locator('.card-title').first().textContent();
  await page.locator('#next').focus();
  await page.keyboard.press('Enter');
  await textStarts('#page-info', 'Page 2 ');
  assert.notEqual(await page.locator('.card-title').first().textContent(), firstTitle);
  assert.equal(await page.locator('ol.cards').getAttribute('start'), '5');
  assert.equal(await page.locator('#prev').isDisabled(), false);
  await shot('03-page-2');
  // The page-locator badge: the manual pages carry page_number.
  const pages = await page.locator('.locator').allTextContents();
  await page.locator('#prev').click();
  await textStarts('#page-info', 'Page 1 ');
  assert.equal(await page.locator('.card-title').first().textContent(), firstTitle);
  assert.ok(pages.every((p) => /^Page \d+$/.test(p)));
  assert.deepEqual(consoleErrors, []);
});

test('the empty and error states (search answers replaced in the browser)', async () => {
  // Past the last page the API answers an empty page.
  const res = await fetch(`${rt.url}/p/quickstart/api/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: { query: 'x' }, page: 9, page_size: 4 }) });
  assert.equal(res.status, 200);
  const past = (await res.json()) as { results: unknown[]; pagination: { has_next: boolean } };
  assert.deepEqual(past.results, []);
  assert.equal(past.pagination.has_next, false);
  await page.route('**/api/search', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ results: [], pagination: { page: 1, page_size: 4, total: 0, has_previous: false, has_next: false }, execution_id: null }) }));
  await page.getByRole('button', { name: 'espresso' }).click();
  await page.waitForSelector('#results .empty');
  assert.equal(await page.locator('#results .empty').textContent(), 'No results. Try other words.');
  assert.equal(await page.locator('#pager').isVisible(), false);
  await page.unroute('**/api/search');
  await page.route('**/api/search', (route) => route.abort('connectionrefused'));
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await textStarts('#status', 'The search could not reach the server');
  await page.unroute('**/api/search');
  await shot('04-error-state');
  for (let i = consoleErrors.length - 1; i >= 0; i--) if (consoleErrors[i]!.includes('net::ERR_CONNECTION_REFUSED')) consoleErrors.splice(i, 1);
  assert.deepEqual(consoleErrors, []);
});

test('an image field renders as a thumbnail from a presigned object URL (the search answer is stubbed: the sample documents carry no image URL)', async () => {
  const api = (method: string, url: string, body?: unknown) =>
    fetch(`${rt.url}${url}`, { method, headers: { authorization: `Bearer ${rt.apiKey}`, 'x-namespace': 'quickstart', ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const current = (await (await api('GET', '/v1/retrievers/quickstart-search')).json()) as { display_config: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  const dc = current.display_config;
  const patched = await api('PATCH', '/v1/retrievers/quickstart-search', {
    display_config: { ...dc, exposed_fields: [...dc.exposed_fields, 'thumbnail_url'], field_config: { ...dc.field_config, thumbnail_url: { format: 'image', format_options: { aspect_ratio: '4/3', label: 'Photo' } } } },
  });
  assert.equal(patched.status, 200, await patched.clone().text());
  const obj = (await (await api('GET', '/v1/buckets/quickstart-photos/objects/sample_photo_night?return_url=true')).json()) as { blobs: { presigned_url: string }[] };
  const photo = obj.blobs[0]!.presigned_url;
  assert.ok(photo.startsWith(rt.url), photo);
  await page.goto(`${rt.url}/p/quickstart`);
  await page.waitForSelector('body.ready');
  await page.route('**/api/search', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ results: [{ document_id: 'd1', score: 0.9, fields: { title: 'Night sky', text: 'A starry night sky.', thumbnail_url: photo } }], pagination: { page: 1, page_size: 4, total: 1, has_previous: false, has_next: false }, execution_id: null }),
    }),
  );
  await page.getByRole('button', { name: 'starry night sky' }).click();
  const img = page.locator('.card img.thumb');
  await img.waitFor();
  assert.equal(await img.getAttribute('alt'), 'Photo');
  await page.waitForFunction((el) => (el as unknown as { complete: boolean }).complete, await img.elementHandle());
  assert.ok((await img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth)) > 0, 'the image loaded under the page CSP');
  await page.unroute('**/api/search');
  await shot('05-thumbnail');
  assert.deepEqual(consoleErrors, []);
});

test('a password-protected page: a wrong password is refused, the right one searches; then the rate limit answers', async () => {
  // Published again under a new name with a password and a low limit (a fresh limiter window for this slug).
  const pub = await fetch(`${rt.url}/v1/retrievers/quickstart-search/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rt.apiKey}`, 'x-namespace': 'quickstart', 'content-type': 'application/json' },
    body: JSON.stringify({ public_name: 'quickstart-private', password: 'letmein', rate_limit_config: { requests_per_minute: 2 } }),
  });
  assert.equal(pub.status, 200, await pub.clone().text());
  assert.equal(((await pub.json()) as { public_url: string }).public_url, `${rt.url}/p/quickstart-private`);
  assert.equal((await page.goto(`${rt.url}/p/quickstart`))?.status(), 404, 'the old name is gone');
  consoleErrors.length = 0; // the 404 document above, asked for on purpose
  await page.goto(`${rt.url}/p/quickstart-private`);
  await page.waitForSelector('body.ready');
  assert.equal(await page.locator('#password').isVisible(), true);

  await page.getByRole('searchbox', { name: 'Search' }).fill('espresso');
  await page.getByLabel('Password').fill('wrong');
  await page.keyboard.press('Enter');
  await textStarts('#status', 'Wrong password');
  assert.equal(await page.locator('.card').count(), 0);
  assert.equal(await page.locator(':focus').getAttribute('id'), 'password', 'the focus goes back to the password');
  await shot('06-wrong-password');
  expectFailedLoads(401);

  await page.getByLabel('Password').fill('letmein');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForSelector('.card');
  assert.equal(await page.locator('.card-title').first().textContent(), 'Pulling an espresso');

  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await textStarts('#status', 'Too many searches');
  assert.equal(await page.locator('.card').count(), 0);
  assert.match((await status()) ?? '', /at most 2 a minute; retry in \d+ s/);
  await shot('07-rate-limited');
  expectFailedLoads(429);
  assert.deepEqual(consoleErrors, []);
});

test('publishing with a display_config in the body: the table layout, no password any more', async () => {
  const api = (method: string, url: string, body?: unknown) =>
    fetch(`${rt.url}${url}`, { method, headers: { authorization: `Bearer ${rt.apiKey}`, 'x-namespace': 'quickstart', ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const dc = ((await (await api('GET', '/v1/retrievers/quickstart-search')).json()) as { display_config: Record<string, unknown> }).display_config;
  const pub = await api('POST', '/v1/retrievers/quickstart-search/publish', { public_name: 'quickstart-table', password: null, rate_limit_config: { requests_per_minute: 60 }, display_config: { ...dc, layout: { results_layout: 'table', page_size: 5 } } });
  assert.equal(pub.status, 200, await pub.clone().text());
  assert.equal(((await pub.json()) as { password_protected: boolean }).password_protected, false);
  await page.goto(`${rt.url}/p/quickstart-table`);
  await page.waitForSelector('body.ready');
  assert.equal(await page.locator('#password').isVisible(), false);
  await page.getByRole('searchbox', { name: 'Search' }).fill('garden pump troubleshooting');
  await page.keyboard.press('Enter');
  const table = page.getByRole('table', { name: 'Search results' });
  await table.waitFor();
  assert.deepEqual(await table.locator('thead th').allTextContents(), ['#', 'title', 'Snippet', 'Page', 'Collection', 'Indexed', 'Photo', 'Score']);
  assert.equal(await table.locator('tbody tr').count(), 5);
  assert.equal(await table.locator('tbody tr').first().locator('td').nth(1).textContent(), 'Garden pump manual');
  await shot('08-table');
  assert.deepEqual(consoleErrors, []);
});
