/** The messages between the engine's threads and the model thread (session-host.ts ↔ session-thread.ts). */
import type { InferenceSession, Tensor } from 'onnxruntime-node';

/** A tensor as it crosses threads: ort.Tensor's fields, which structured clone does not copy from the class. */
export interface WireTensor {
  type: Tensor['type'];
  data: Tensor['data'];
  dims: readonly number[];
}

export type HostRequest =
  | { id: number; op: 'create'; file: string; options: InferenceSession.SessionOptions }
  | { id: number; op: 'run'; session: number; feeds: Record<string, WireTensor>; fetches: string[] }
  | { id: number; op: 'release'; session: number };

/** A request before the host numbers it. */
export type HostCall = HostRequest extends infer R ? (R extends HostRequest ? Omit<R, 'id'> : never) : never;

export interface SessionShape {
  id: number;
  inputNames: string[];
  inputMetadata: InferenceSession['inputMetadata'];
}

export type HostReply =
  | { id: number; ok: true; session?: SessionShape; outputs?: Record<string, WireTensor> }
  | { id: number; ok: false; error: { message: string; name: string } };
