/**
 * Regenerates the sample's photos and PDF (committed; run again only to change them):
 *   node --import tsx engine/sample-data/generate.ts
 * Photos are drawn with sharp from SVG (no third-party images); the PDF is written by hand (a two-page text
 * layer in Helvetica, ~1.5 KB), as no PDF writer is a dependency.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const DIR = path.dirname(fileURLToPath(import.meta.url));

const photos: Record<string, string> = {
  sunset: `<rect width="320" height="240" fill="#f6a04d"/><rect y="150" width="320" height="90" fill="#24577a"/><circle cx="160" cy="150" r="45" fill="#ff5a1f"/>`,
  forest: `<rect width="320" height="240" fill="#cfe8f7"/><rect y="200" width="320" height="40" fill="#4c7a2a"/>${[30, 95, 160, 225, 290]
    .map((x) => `<polygon points="${x},40 ${x - 30},200 ${x + 30},200" fill="#1f5e2c"/>`)
    .join('')}`,
  night: `<rect width="320" height="240" fill="#0b1430"/><polygon points="0,240 90,130 170,240" fill="#39405a"/><polygon points="120,240 230,110 320,240" fill="#4a5270"/><circle cx="250" cy="55" r="28" fill="#f3f1d8"/>${[
    [30, 30], [70, 80], [120, 40], [180, 25], [200, 90], [20, 110], [290, 120],
  ]
    .map(([x, y]) => `<circle cx="${x}" cy="${y}" r="2" fill="#fff"/>`)
    .join('')}`,
};

for (const [name, body] of Object.entries(photos)) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240">${body}</svg>`;
  writeFileSync(path.join(DIR, 'photos', `${name}.png`), await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer());
}

const pages = [
  [
    'Garden Pump GP-200 - Service Manual',
    '',
    'Page 1: Priming the pump',
    'Before the first start, fill the pump housing with water',
    'through the priming plug. Never run the pump dry: the',
    'mechanical seal overheats within seconds.',
  ],
  [
    'Page 2: Troubleshooting',
    '',
    'The pump runs but delivers no water: check the suction',
    'hose for leaks and clean the inlet strainer.',
    'The motor hums but does not turn: the capacitor has failed',
    'or the impeller is blocked by debris.',
  ],
];

function pdf(pageLines: string[][]): Buffer {
  const esc = (s: string) => s.replace(/[\\()]/g, (c) => `\\${c}`);
  const objs: string[] = [];
  const n = pageLines.length;
  // 1 catalog, 2 pages, 3 font, then per page: page object and content stream.
  objs.push('<< /Type /Catalog /Pages 2 0 R >>');
  objs.push(`<< /Type /Pages /Kids [${pageLines.map((_, i) => `${4 + 2 * i} 0 R`).join(' ')}] /Count ${n} >>`);
  objs.push('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  for (const [i, lines] of pageLines.entries()) {
    const text = lines.map((l, j) => `BT /F1 ${j === 0 ? 16 : 12} Tf 60 ${760 - j * 22} Td (${esc(l)}) Tj ET`).join('\n');
    objs.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + 2 * i} 0 R >>`);
    objs.push(`<< /Length ${Buffer.byteLength(text)} >>\nstream\n${text}\nendstream`);
  }
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

writeFileSync(path.join(DIR, 'docs', 'garden-pump-manual.pdf'), pdf(pages));
