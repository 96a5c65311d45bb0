/**
 * The operator's entry point (`node operator/src/main.ts`, the chart's command; Node strips the types itself, so
 * stack traces point at the sources' own lines with no source maps). Under the tsx loader (the tests), source maps
 * stay on for this project's TypeScript only: tsx turns them on for node_modules too, and Node then keeps every
 * loaded package's maps in memory (client-node alone ships 11 MB of them: ~12 MB of heap, 10-25 MB resident) for
 * stack traces through compiled JavaScript. The maps are read when a module loads, so the switch comes before the
 * dynamic import of everything else.
 */
import module from 'node:module';

module.setSourceMapsSupport(true, { nodeModules: false, generatedCode: true });
await import('./operator-process.ts');
