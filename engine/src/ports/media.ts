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

/** A time range of the media to decode (a job's share of a long file): from `startSeconds`, for `durationSeconds` (absent: to the end). */
export interface MediaSpan {
  startSeconds?: number;
  durationSeconds?: number;
}

export interface AudioDecodeOptions extends MediaSpan {
  /** Output sample rate in Hz (mono float32). */
  sampleRate: number;
}

export interface FrameOptions extends MediaSpan {
  /**
   * Which frames: one every `everySeconds`, the first at `offsetSeconds`; or the first frame at or after each of
   * `times` (ascending, at least a frame interval apart). Times are seconds from the start of the media.
   */
  everySeconds?: number;
  offsetSeconds?: number;
  times?: number[];
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

export interface SceneOptions extends MediaSpan {
  /** Scene-change score (0–1, ffmpeg's `scene`) above which a frame starts a new scene. */
  threshold: number;
}

export interface MediaDecoder {
  /**
   * Seconds of the first `track` measured from the stream's own packet timestamps (read, not decoded; never the
   * container's header). Throws MediaError for a file without that track, corrupt or unsupported.
   */
  duration(file: string, track: 'audio' | 'video'): Promise<number>;
  /** Times (seconds from the start of the media, ascending) of the frames whose scene-change score exceeds the threshold. */
  sceneChanges(file: string, opts: SceneOptions): Promise<number[]>;
  /**
   * Streams frames of the first video track (of a span of it) at a fixed interval or at given times, each with the
   * time it was asked for. Throws MediaError for a file without video, corrupt or unsupported.
   */
  frames(file: string, opts: FrameOptions): AsyncIterable<VideoFrame>;
  /**
   * Streams the first audio track of a media file as mono float32 PCM, chunk by chunk (memory stays bounded
   * whatever the file's length). Throws MediaError for a file without audio, corrupt or unsupported.
   */
  audio(file: string, opts: AudioDecodeOptions): AsyncIterable<Float32Array>;
}
