/** Why a Model could not be delivered, naming the file (when one is to blame) for its Ready=False condition. */
export type DeliveryReason =
  | 'FileMissing'
  | 'HashMismatch'
  | 'FileTooLarge'
  | 'FetchFailed'
  | 'LoadFailed'
  | 'VolumeNotAllowed'
  | 'EndpointNotAllowed'
  | 'SecretMissing'
  | 'SecretNotAllowed'
  | 'SourceUnavailable';

export class ModelFileError extends Error {
  /** The spec.files[].path to blame, if one. */
  readonly file: string | undefined;
  readonly reason: DeliveryReason;

  constructor(file: string | undefined, reason: DeliveryReason, message: string) {
    super(file ? `file ${file}: ${message}` : message);
    this.name = 'ModelFileError';
    this.file = file;
    this.reason = reason;
  }
}
