/**
 * `return_presigned_urls` (query) / `return_urls` (body): stored `s3://` references in returned documents become
 * time-limited HTTP URLs. Top-level `*_url` fields (thumbnail_url, …) are replaced by their presigned URL;
 * `document_blobs[]` entries keep `url` and gain `presigned_url` (BlobURLRef). A URL the namespace's storage does
 * not hold (the presigner answers undefined) is returned as stored. A media fragment (`#t=40,55`, the time range of
 * an audio or video segment) is kept on the presigned URL.
 */
import type { Doc } from './types.ts';

/** Presigns one `s3://bucket/key` URL for a namespace, or answers undefined when it is not the namespace's. */
export type Presigner = (url: string, namespace: string | undefined) => Promise<string | undefined>;

const isS3 = (v: unknown): v is string => typeof v === 'string' && v.startsWith('s3://');
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export async function presignDocuments(docs: Doc[], presign: Presigner, namespace: string | undefined): Promise<Doc[]> {
  // One signature per distinct URL in a response (pages of one PDF share blobs).
  const memo = new Map<string, Promise<string | undefined>>();
  const sign = (url: string) => {
    let p = memo.get(url);
    if (!p) memo.set(url, (p = presign(url, namespace)));
    return p;
  };
  return Promise.all(
    docs.map(async (d) => {
      const out: Doc = { ...d };
      for (const [k, v] of Object.entries(d)) {
        if (k.endsWith('_url') && isS3(v)) {
          const hash = v.indexOf('#');
          const signed = await sign(hash < 0 ? v : v.slice(0, hash));
          out[k] = signed ? signed + (hash < 0 ? '' : v.slice(hash)) : v;
        }
      }
      if (Array.isArray(d.document_blobs)) {
        out.document_blobs = await Promise.all(
          d.document_blobs.map(async (b: unknown) => {
            if (!isObj(b) || !isS3(b.url)) return b;
            const signed = await sign(b.url);
            return signed ? { ...b, presigned_url: signed } : b;
          }),
        );
      }
      return out;
    }),
  );
}

/** Splits `s3://bucket/key/parts` into bucket and key; undefined when it is not one. */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}
