/**
 * Preloaded into the engine process by the security suites (`node --import <this>`): records every route the
 * engine's Fastify app registers (method + pattern), through Fastify's documented `fastify.initialization`
 * diagnostics channel and an onRoute hook, and writes them as JSON to $QUARRY_TEST_ROUTES_FILE once the app is
 * ready. The suites enumerate routes from the running engine this way, so a route added later cannot be forgotten.
 * Nothing in the engine knows about it.
 */
import diagnostics from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

interface FastifyLike {
  addHook(name: 'onRoute', fn: (r: { method: string | string[]; url: string }) => void): void;
  addHook(name: 'onReady', fn: () => Promise<void>): void;
}

const file = process.env.QUARRY_TEST_ROUTES_FILE;
if (file) {
  diagnostics.subscribe('fastify.initialization', (message) => {
    const { fastify } = message as { fastify: FastifyLike };
    const routes: { method: string; url: string }[] = [];
    fastify.addHook('onRoute', (r) => {
      for (const m of Array.isArray(r.method) ? r.method : [r.method]) routes.push({ method: m, url: r.url });
    });
    fastify.addHook('onReady', async () => {
      writeFileSync(file, JSON.stringify(routes));
    });
  });
}
