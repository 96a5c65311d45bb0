export { createObjectStore, objectStoreConfigFromEnv, readS3CredentialsFile, type ObjectStoreConfig } from './config.ts';
export { LocalObjectStore, type LocalObjectStoreConfig } from './local.ts';
export { handlePresignedRequest } from './local-http.ts';
export { presignUrl, verifyPresigned, type PresignedTarget } from './presign.ts';
export { S3ObjectStore, type S3ObjectStoreConfig } from './s3.ts';
