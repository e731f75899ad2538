// The injector's golden cases: every fixture under test/fixtures/injector (with an optional .defaults.yaml).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { VERSION } from '../../src/version.js';
import type { MutateContext } from '../../src/admission/mutate.js';
import { builtinDefaults, parseDefaults, formatFieldErrors } from '../../src/config/index.js';
import { parseManifests } from '../../src/offline/manifests.js';
import { repoPath } from './paths.js';

export const FIXTURES = repoPath('test', 'fixtures', 'injector');
export const TEST_TUNNEL_KEY = 'golden-test-tunnel-key-0123456789';

export interface InjectorCase {
  name: string;
  file: string;
  defaultsFile?: string;
  docs: unknown[];
  ctx: MutateContext;
}

export function loadCases(): InjectorCase[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.yaml') && !f.endsWith('.defaults.yaml'))
    .sort()
    .map((f) => {
      const name = f.replace(/\.yaml$/, '');
      const file = `${FIXTURES}/${f}`;
      const defaultsPath = `${FIXTURES}/${name}.defaults.yaml`;
      let defaults = builtinDefaults();
      if (existsSync(defaultsPath)) {
        const parsed = parseDefaults(readFileSync(defaultsPath, 'utf8'), defaultsPath);
        if (parsed.errors.length > 0) throw new Error(formatFieldErrors(parsed.errors));
        defaults = parsed.defaults;
      }
      const c: InjectorCase = { name, file, docs: parseManifests(readFileSync(file, 'utf8'), file), ctx: { defaults, version: VERSION, tunnelKey: TEST_TUNNEL_KEY } };
      if (existsSync(defaultsPath)) c.defaultsFile = defaultsPath;
      return c;
    });
}
