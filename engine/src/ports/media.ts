/**
 * Media-decoding port: audio and video files decoded by an external decoder (engine/src/media/ffmpeg.ts runs ffmpeg
 * as a subprocess). Nothing is taken from container metadata: lengths are what the decoder actually produced.
 */
export type MediaErrorReason = 'unsupported_media' | 'corrupt_media' | 'no_audio' | 'no_video' | 'decode_timeout' | 'decoder_missing';

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

export interface FrameOptions {
  /** One frame every this many seconds, the first at `offsetSeconds`. */
  everySeconds: number;
  offsetSeconds: number;
  /** Frames are scaled to fit and padded to exactly width × height (RGB, 3 bytes a pixel). */
  width: number;
  height: number;
}

export interface VideoFrame {
  index: number;
  /** Seconds from the start of the media. */
  time: number;
  width: number;
  height: number;
  rgb: Buffer;
}

export interface MediaDecoder {
  /**
   * Streams frames of the first video track at a fixed interval. Throws MediaError for a file without video,
   * corrupt or unsupported.
   */
  frames(file: string, opts: FrameOptions): AsyncIterable<VideoFrame>;
  /**
   * Streams the first audio track of a media file as mono float32 PCM, chunk by chunk (memory stays bounded
   * whatever the file's length). Throws MediaError for a file without audio, corrupt or unsupported.
   */
  audio(file: string, opts: AudioDecodeOptions): AsyncIterable<Float32Array>;
}
