/**
 * The Models port of an engine that embeds nothing itself: in the split-process tests the extraction workers
 * (separate processes) embed, so any call here would mean the engine side did work it must not.
 */
import type { Models } from '#core/ports/models.ts';

export const engineSideModels: Models = {
  list: () => [],
  info: () => {
    throw new Error('this process embeds nothing: the extraction workers do');
  },
  embedText: async () => [],
  embedImage: async () => [],
  rerank: async () => [],
  ocr: async () => [],
  close: async () => {},
};
