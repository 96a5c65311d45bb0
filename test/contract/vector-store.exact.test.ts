/** The exact (brute-force) VectorStore against the shared contract; it is also the oracle for the others. */
import { ExactVectorStore } from '#engine/vector/exact/exact-store.ts';
import { vectorStoreContract } from './vector-store.contract.ts';

vectorStoreContract('exact', { open: async () => new ExactVectorStore() });
