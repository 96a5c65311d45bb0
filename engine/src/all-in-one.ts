/**
 * The all-in-one process (the chart's `allInOne.enabled=true`, for small clusters): the operator, the engine (cluster
 * mode) and the extraction workers in one process, on one embedded LanceDB vector store under QUARRY_DATA_DIR (a
 * PersistentVolumeClaim in the chart). Both entry points are loaded unchanged; what makes them one is that
 * createVectorStore shares one embedded store per data directory within a process, so writes by the workers and the
 * operator are read by the engine at once (separate processes on one embedded store read stale data: the chart
 * refuses that combination).
 *
 * NATS and S3 are still used (the queue and blobs); QUARRY_ENGINE_WORKERS (default 2) sets the in-process workers.
 */
process.env.QUARRY_MODE ??= 'cluster';
process.env.QUARRY_VECTOR_STORE ??= 'embedded';
process.env.QUARRY_ENGINE_WORKERS ??= '2';
if (process.env.QUARRY_VECTOR_STORE === 'embedded') delete process.env.QDRANT_URL;

await import('#operator/main.ts');
await import('./main.ts');
