// Tests run from dist/test/...; source-tree files (goldens, fixtures, charts) are addressed from the repo root.
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const repoPath = (...parts: string[]): string => join(REPO_ROOT, ...parts);
export const CLI = repoPath('dist', 'src', 'cli.js');
