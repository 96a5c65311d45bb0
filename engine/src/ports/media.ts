/**
 * Media-decoding port: audio and video files decoded by an external decoder (engine/src/media/ffmpeg.ts runs ffmpeg
 * as a subprocess). Nothing is taken from container metadata: lengths are what the decoder actually produced.
 */
export type MediaErrorReason = 'unsupported_media' | 'corrupt_media' | 'no_audio' | 'decode_timeout' | 'decoder_missing';

/** A file that cannot be decoded: fails its own object only, with a reason and a message naming the fix. */
export class MediaError extends Error {
  readonly reason: MediaErrorReason;
  constructor(reason: MediaErrorReason, message: string) {
    super(message);
    this.name = 'MediaError';
    this.reason = reason;
  }
}

export interface AudioDecodeOptions {
  /** Output sample rate in Hz (mono float32). */
  sampleRate: number;
}

export interface MediaDecoder {
  /**
   * Streams the first audio track of a media file as mono float32 PCM, chunk by chunk (memory stays bounded
   * whatever the file's length). Throws MediaError for a file without audio, corrupt or unsupported.
   */
  audio(file: string, opts: AudioDecodeOptions): AsyncIterable<Float32Array>;
}
