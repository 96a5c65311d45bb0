/** A stand-in for the Models port in tests of the HTTP plumbing: every text maps to [1,0,0], every image to [0,1,0]. */
import type { Models } from '#core/ports/models.ts';

export const constantModels: Models = {
  list: () => [],
  info: (name) => ({ name, kind: 'text-embedding', dimensions: 3 }),
  embedText: async (_m, texts) => texts.map(() => Float32Array.from([1, 0, 0])),
  embedImage: async (_m, imgs) => imgs.map(() => Float32Array.from([0, 1, 0])),
  rerank: async (_m, _q, p) => p.map(() => 0),
  ocr: async () => [],
  close: async () => {},
};
