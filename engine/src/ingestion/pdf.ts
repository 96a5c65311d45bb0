/**
 * PDF reading with pdfjs-dist (Mozilla PDF.js): the text layer per page, and pages rendered to PNG through
 * pdfjs's own Node canvas factory (@napi-rs/canvas) for OCR and image embedding.
 * Encrypted and malformed PDFs fail with a clear, typed error instead of a crash.
 */
import { getDocument, type PDFDocumentProxy } from 'pdfjs-dist/legacy/build/pdf.mjs';

export class PdfError extends Error {
  readonly reason: 'encrypted' | 'invalid' | 'empty';
  constructor(reason: PdfError['reason'], message: string) {
    super(message);
    this.name = 'PdfError';
    this.reason = reason;
  }
}

export interface PdfHandle {
  pageCount: number;
  /** Text layer of a 1-based page, whitespace-normalised ('' for scanned pages). */
  pageText(page: number): Promise<string>;
  /** Renders a 1-based page to PNG at the given DPI. */
  renderPage(page: number, dpi?: number): Promise<Buffer>;
  close(): Promise<void>;
}

interface CanvasLike {
  toBuffer(mime: 'image/png'): Buffer;
}
interface CanvasFactoryLike {
  create(w: number, h: number): { canvas: CanvasLike; context: unknown };
  destroy(entry: { canvas: CanvasLike; context: unknown }): void;
}

export async function openPdf(bytes: Uint8Array): Promise<PdfHandle> {
  if (bytes.byteLength === 0) throw new PdfError('empty', 'the PDF is empty (0 bytes)');
  let doc: PDFDocumentProxy;
  try {
    // pdfjs transfers (detaches) the buffer it is given: hand it a copy.
    doc = await getDocument({
      data: new Uint8Array(bytes),
      isEvalSupported: false,
      disableFontFace: true,
      useSystemFonts: false,
      verbosity: 0,
    }).promise;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'PasswordException') throw new PdfError('encrypted', 'the PDF is encrypted (password protected); upload a decrypted copy');
    throw new PdfError('invalid', `the file is not a readable PDF: ${e.message ?? String(err)}`);
  }
  return {
    pageCount: doc.numPages,
    async pageText(n) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      page.cleanup();
      return content.items
        .map((i) => ('str' in i ? i.str + (i.hasEOL ? '\n' : ' ') : ''))
        .join('')
        .replace(/[ \t]+/g, ' ')
        .replace(/\s*\n\s*/g, '\n')
        .trim();
    },
    async renderPage(n, dpi = 150) {
      const page = await doc.getPage(n);
      const viewport = page.getViewport({ scale: dpi / 72 });
      const factory = (doc as unknown as { canvasFactory: CanvasFactoryLike }).canvasFactory;
      const entry = factory.create(Math.ceil(viewport.width), Math.ceil(viewport.height));
      try {
        await page.render({ canvasContext: entry.context, viewport, canvas: entry.canvas } as unknown as Parameters<typeof page.render>[0]).promise;
        return entry.canvas.toBuffer('image/png');
      } finally {
        factory.destroy(entry);
        page.cleanup();
      }
    },
    async close() {
      await doc.destroy();
    },
  };
}
