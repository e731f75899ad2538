// The parts the policy injects are taken from inject/render.ts: the template, filled with a config's values, must be
// exactly what renderParts() gives for that config, for every option set to each of its sample values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type InjectConfig, OPTION_LIST, builtinConfig } from '../../src/config/options.js';
import { renderParts } from '../../src/inject/render.js';
import { FIXED, instantiate, partTemplates } from '../../src/policy/parts.js';
import { VERSION } from '../../src/version.js';
import { samplesFor } from '../helpers/policy-samples.js';

const templates = partTemplates(VERSION);
const text = (config: InjectConfig) => (key: string) => {
  const o = OPTION_LIST.find((x) => x.key === key)!;
  return o.format(config[o.field] as never);
};

function check(config: InjectConfig, label: string): void {
  const rendered = renderParts({ ...config, ...FIXED }, 'policy:0123456789abcdef', VERSION);
  const value = text({ ...config, ...FIXED });
  assert.deepEqual(instantiate(templates.init, value, 'policy:0123456789abcdef'), rendered.init, `${label}: init container`);
  assert.deepEqual(instantiate(templates.watcher, value, 'policy:0123456789abcdef'), rendered.watcher, `${label}: watcher`);
  assert.deepEqual(instantiate(templates.volume, value, 'policy:0123456789abcdef'), rendered.volume, `${label}: volume`);
  assert.equal(instantiate(templates.status, value, 'policy:0123456789abcdef'), rendered.statusJson, `${label}: status annotation`);
}

test('the part templates render what renderParts() renders, for the built-in config', () => {
  check(builtinConfig(), 'built-in');
});

test('the part templates follow every option: each valid sample value renders the same parts', () => {
  let tried = 0;
  for (const o of OPTION_LIST) {
    for (const raw of samplesFor(o)) {
      const parsed = o.parse(raw);
      if (!parsed.ok) continue;
      const config = { ...builtinConfig(), [o.field]: parsed.value } as InjectConfig;
      check(config, `${o.key}=${JSON.stringify(raw)}`);
      tried++;
    }
  }
  assert.ok(tried > 100, `${tried} valid samples`);
});

test('a boolean option that changes the parts becomes a condition (nativeSidecar), the tunnel stays off', () => {
  assert.equal(templates.watcher.t, 'cond');
  assert.equal((templates.watcher as { key: string }).key, 'nativeSidecar');
  assert.deepEqual(FIXED, { tunnel: false });
  const status = JSON.parse(instantiate(templates.status, text({ ...builtinConfig(), tunnel: true }), 'x') as string);
  assert.equal(status.tunnel, false, 'a policy-injected workload never claims a tunnel');
});
