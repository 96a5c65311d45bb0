/**
 * The media adapters extractors use when the extraction context brings none: ffmpeg for decoding, the installed
 * Whisper for speech-to-text (loaded on first use, shared by every job of the process).
 */
import { WhisperSpeechToText } from '../models/whisper.ts';
import type { MediaDecoder } from '../ports/media.ts';
import type { SpeechToText } from '../ports/speech.ts';
import { FfmpegDecoder } from './ffmpeg.ts';

let decoder: MediaDecoder | undefined;
let speech: SpeechToText | undefined;

export function defaultMediaDecoder(): MediaDecoder {
  return (decoder ??= new FfmpegDecoder());
}

export function defaultSpeechToText(): SpeechToText {
  return (speech ??= new WhisperSpeechToText({ threads: Number(process.env.QUARRY_MODEL_THREADS ?? 0) || 0 }));
}
