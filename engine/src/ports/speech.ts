/** Speech-to-text port: transcribes up to one window (30 s for Whisper) of 16 kHz mono audio. */
export interface Transcript {
  text: string;
  /** Probability the window holds no speech (Whisper's <|nospeech|> at the first position). */
  noSpeechProb: number;
  /** Decoded text tokens. */
  tokens: number;
}

export interface SpeechToText {
  readonly sampleRate: number;
  /** Longest audio one call accepts, in seconds. */
  readonly windowSeconds: number;
  transcribe(pcm: Float32Array): Promise<Transcript>;
  close(): Promise<void>;
}
