// npm run bench [webhook|cost|runtime|routes|scale]: side-by-side figures from one run (not tests; nothing here asserts a
// timing).
import { runRoutesBench } from './routes.js';
import { runRuntimeBench } from './runtime.js';
import { runWatchScaleBench } from './watch-scale.js';
import { runCostBench } from './webhook-cost.js';
import { benchReview, runWebhookBench, summarizeWebhook } from './webhook.js';

async function main(): Promise<void> {
  const only = process.argv[2];
  console.log(`ghostwire bench on ${process.version}, ${(await import('node:os')).cpus().length} cores\n`);
  if (!only || only === 'webhook') {
    const figures = await runWebhookBench();
    console.log(summarizeWebhook(figures, Buffer.byteLength(benchReview())));
    console.log();
  }
  // `npm run bench webhook` includes the cost figures; `npm run bench cost` runs only them.
  if (!only || only === 'webhook' || only === 'cost') {
    await runCostBench();
  }
  if (!only || only === 'runtime') {
    await runRuntimeBench();
  }
  if (!only || only === 'routes') {
    await runRoutesBench();
  }
  if (!only || only === 'scale') {
    await runWatchScaleBench();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
