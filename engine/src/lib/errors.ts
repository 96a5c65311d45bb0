/**
 * Errors with the documented API error shape (reference §8.1):
 * `{ success: false, status, error: { type, message, details? } }`.
 * Domain code throws these; the HTTP layer renders them, never a 5xx for bad input.
 */
export type ErrorType =
  | 'BadRequestError'
  | 'UnauthorizedError'
  | 'ForbiddenError'
  | 'NotFoundError'
  | 'AlreadyExistsError'
  | 'ValidationError'
  | 'TooManyRequestsError'
  | 'NotEnabledError'
  | 'InternalServerError'
  | 'InferenceServiceUnavailableError'
  | 'ServiceUnavailableError'
  | 'StorageError'
  | 'FeatureExtractionError'
  | 'TimeoutError';

const STATUS: Record<ErrorType, number> = {
  BadRequestError: 400,
  UnauthorizedError: 401,
  ForbiddenError: 403,
  NotEnabledError: 403,
  NotFoundError: 404,
  AlreadyExistsError: 409,
  ValidationError: 422,
  TooManyRequestsError: 429,
  InternalServerError: 500,
  StorageError: 500,
  FeatureExtractionError: 500,
  InferenceServiceUnavailableError: 503,
  ServiceUnavailableError: 503,
  TimeoutError: 504,
};

export class QuarryError extends Error {
  readonly type: ErrorType;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(type: ErrorType, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = STATUS[type];
    if (details) this.details = details;
  }

  toBody(): ErrorBody {
    return {
      success: false,
      status: this.status,
      error: { type: this.type, message: this.message, ...(this.details ? { details: this.details } : {}) },
    };
  }
}

export interface ErrorBody {
  success: false;
  status: number;
  error: { type: string; message: string; details?: Record<string, unknown> };
}

export const badRequest = (message: string, details?: Record<string, unknown>) =>
  new QuarryError('BadRequestError', message, details);
export const notFound = (resource: string, id: string) =>
  new QuarryError('NotFoundError', `${resource} '${id}' not found`, { resource, id });
export const validationError = (message: string, details?: Record<string, unknown>) =>
  new QuarryError('ValidationError', message, details);
