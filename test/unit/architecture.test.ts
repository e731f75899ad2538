// The architecture as tests: which folder of src/ may import which (one way, no cycles), which folders stay pure
// (no file system, no processes, no HTTP server, no Kubernetes client at run time), and the size limits that keep
// every file one job (at most 400 lines) and every function readable (at most 80 lines).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { repoPath } from '../helpers/paths.js';

/** Top-level folders (and root files) of src/ and what each may import. `*` means anything. */
export const ALLOWED: Record<string, readonly string[]> = {
  'version.ts': [],
  'log.ts': [],
  kube: [],
  net: [],
  util: [],
  config: ['kube', 'net', 'version.ts'],
  tls: ['config', 'net'],
  inject: ['config', 'kube'],
  shadow: ['config', 'kube', 'net', 'util'],
  admission: ['inject', 'shadow', 'config', 'kube'],
  status: ['admission', 'inject', 'shadow', 'config', 'kube'],
  offline: ['admission', 'config', 'kube'],
  policy: ['admission', 'inject', 'shadow', 'config', 'kube'],
  server: ['admission', 'config', 'kube', 'tls', 'log.ts'],
  k8s: ['shadow', 'config', 'kube', 'util', 'log.ts', 'version.ts'],
  runtime: ['k8s', 'config', 'kube', 'net', 'util', 'log.ts', 'version.ts'],
  commands: ['*'],
  'cli.ts': ['commands', 'version.ts'],
};

/** Folders whose code is pure: modules they must not import at run time (type-only imports are fine). */
const PURE = ['kube', 'net', 'util', 'config', 'inject', 'admission', 'offline', 'policy', 'status', 'runtime/iptables/rules.ts', 'shadow'];
const IMPURE_MODULES = [/^(node:)?fs(\/promises)?$/, /^(node:)?child_process$/, /^fastify$/, /^@kubernetes\/client-node$/, /^(node:)?https?$/];
/** I/O that a pure folder may still do, each with its reason. */
const PURE_EXCEPTIONS: Record<string, string> = {};

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

const SRC = repoPath('src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

interface Edge {
  from: string;
  to: string;
  spec: string;
  typeOnly: boolean;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
}

/** Every import of a file: static (with whether it is type-only), re-exports and dynamic import('...'). */
export function importsOf(file: string): Edge[] {
  const sf = parse(file);
  const out: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => out.push({ from: file, to: spec.startsWith('.') ? join(dirname(file), spec).replace(/\.js$/, '.ts') : spec, spec, typeOnly });
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = ts.isImportDeclaration(node) ? node.importClause : undefined;
      const typeOnly = ts.isImportDeclaration(node)
        ? Boolean(clause?.isTypeOnly || (clause && !clause.name && clause.namedBindings && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.every((e) => e.isTypeOnly)))
        : node.isTypeOnly;
      add(node.moduleSpecifier.text, typeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** "config" for src/config/x.ts, "log.ts" for src/log.ts. */
const area = (file: string): string => relative(SRC, file).split('/')[0] as string;

test('folders import one way: every edge is allowed and the folder graph has no cycle', () => {
  const violations: string[] = [];
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = area(file);
    assert.ok(ALLOWED[from], `src/${from} is not in the architecture table (test/unit/architecture.test.ts)`);
    for (const e of importsOf(file)) {
      if (!e.to.startsWith(SRC)) continue;
      const to = area(e.to);
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
      const allowed = ALLOWED[from] as readonly string[];
      if (!allowed.includes('*') && !allowed.includes(to)) violations.push(`${relative(SRC, file)} imports ${e.spec} (${from} -> ${to})`);
    }
  }
  assert.deepEqual(violations, [], `imports against the dependency direction:\n${violations.join('\n')}`);
  const seen = new Set<string>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    const at = stack.indexOf(n);
    assert.equal(at, -1, `cycle between folders: ${[...stack.slice(at), n].join(' -> ')}`);
    if (seen.has(n)) return;
    stack.push(n);
    for (const m of graph.get(n) ?? []) visit(m);
    stack.pop();
    seen.add(n);
  };
  for (const n of graph.keys()) visit(n);
});

test('the pipeline folders stay pure: no file system, processes, HTTP or Kubernetes client at run time', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = relative(SRC, file);
    if (!PURE.some((p) => rel === p || rel.startsWith(`${p}/`))) continue;
    for (const e of importsOf(file)) {
      if (e.typeOnly || !IMPURE_MODULES.some((re) => re.test(e.spec))) continue;
      if (PURE_EXCEPTIONS[`${rel} ${e.spec}`]) continue;
      violations.push(`${rel} imports ${e.spec}`);
    }
  }
  assert.deepEqual(violations, [], `I/O in a pure folder:\n${violations.join('\n')}`);
});

/** Functions (declarations, methods, arrows and function expressions) longer than `max` lines. */
export function longFunctions(file: string, max: number): string[] {
  const sf = parse(file);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > max) {
        const name = (node as { name?: ts.Node }).name?.getText(sf) ?? '(anonymous)';
        out.push(`${relative(SRC, file)}:${start + 1} ${name}: ${end - start + 1} lines`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

test(`every file of src/ has at most ${MAX_FILE_LINES} lines and every function at most ${MAX_FUNCTION_LINES}`, () => {
  const files = sourceFiles(SRC);
  const long = files.map((f) => ({ f, n: readFileSync(f, 'utf8').split('\n').length })).filter((x) => x.n > MAX_FILE_LINES);
  assert.deepEqual(long.map((x) => `${relative(SRC, x.f)}: ${x.n} lines`), []);
  assert.deepEqual(files.flatMap((f) => longFunctions(f, MAX_FUNCTION_LINES)), []);
});

test('the checks can fail: a back-edge, an impure import and a long function are caught', () => {
  const edges = importsOf(join(SRC, 'commands', 'serve.ts'));
  assert.ok(edges.some((e) => e.spec === '../server/app.js' && !e.typeOnly));
  assert.ok(edges.some((e) => e.spec === '../k8s/kubeconfig.js'), 'dynamic imports are seen');
  assert.ok(!(ALLOWED.config as readonly string[]).includes('commands'));
  assert.ok(longFunctions(join(SRC, 'commands', 'serve.ts'), 5).length > 0);
});
