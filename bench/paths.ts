import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/** The benchmarks run from dist/bench; fixtures live in the source tree. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const repoPathFromDist = (...parts: string[]): string => join(ROOT, ...parts);
