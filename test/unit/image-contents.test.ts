// The container image without Docker: (1) the Dockerfile itself (stages, base image, user, iptables, and that its
// COPY paths exist in this repo and survive .dockerignore), (2) the runtime stage's file set reproduced with npm:
// `npm pack` the built project, install the tarball with production dependencies only into an empty temp project,
// and run `ghostwire` from there by name, as the injected containers do (command: ["ghostwire", "init"]).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { VERSION } from '../../src/version.js';
import { REPO_ROOT, repoPath } from '../helpers/paths.js';

interface PackageJson {
  version: string;
  engines: { node: string };
  bin: Record<string, string>;
  files: string[];
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as PackageJson;

// ---------------------------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions (continuations joined, comments dropped), global ARGs, and stages. */
function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = i + 1;
    if (line.startsWith('#')) return;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (m) instructions.push({ op: (m[1] as string).toUpperCase(), args: m[2] as string, line: start });
  });
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(m, `FROM at line ${ins.line}`);
      const image = (m[1] as string).replace(/\$\{?(\w+)\}?/g, (_, v: string) => globalArgs.get(v) ?? `$${v}`);
      stages.push({ image, name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.op === 'ARG') {
        const [k, v] = ins.args.split('=');
        globalArgs.set(k as string, v ?? '');
      }
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

const majorOfRange = (range: string): number => Number(/(\d+)/.exec(range)?.[1]);
const majorOfNodeImage = (image: string): number => {
  const m = /^node:(\d+)(?:[.-]|$)/.exec(image);
  assert.ok(m, `${image} is a node:<major>... image`);
  return Number(m[1]);
};

/** .dockerignore patterns as regexes on repo-relative paths (enough for the patterns this repo uses). */
function dockerignore(): RegExp[] {
  return readFileSync(repoPath('.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((p) => {
      assert.ok(!p.startsWith('!'), 'no re-include patterns (keep the ignore file simple)');
      const body = p.replace(/^\/+|\/+$/g, '').split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*');
      return new RegExp(`^${body}(/.*)?$`);
    });
}

/** COPY/ADD sources and destination, with --from when given. */
function copyOf(ins: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = ins.args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift() as string;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
  }
  const dest = words.pop() as string;
  return { ...(from ? { from } : {}), sources: words, dest };
}

test('Dockerfile: node:20-bookworm-slim stages matching engines, iptables in the runtime, USER 65532, ghostwire on PATH', () => {
  const { globalArgs, stages } = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
  assert.equal(stages.length, 2, 'build + runtime');
  const [build, runtime] = stages as [Stage, Stage];
  assert.equal(build.name, 'build');
  assert.equal(globalArgs.get('NODE_IMAGE'), 'node:20-bookworm-slim');
  const engines = majorOfRange(pkg.engines.node);
  for (const s of stages) {
    assert.equal(s.image, 'node:20-bookworm-slim');
    assert.equal(majorOfNodeImage(s.image), engines, `${s.name}: base image major = engines.node major (${pkg.engines.node})`);
  }
  assert.equal(majorOfNodeImage(stages[0]!.image), Number(process.versions.node.split('.')[0]), 'the tests run on the image\'s Node major');

  const runs = (s: Stage) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
  assert.ok(runs(build).some((r) => /\bnpm ci\b/.test(r)), 'build: npm ci');
  assert.ok(runs(build).some((r) => /npm run build/.test(r) && /npm prune --omit=dev/.test(r)), 'build: npm run build + npm prune --omit=dev');
  const install = runs(runtime).find((r) => /apt-get install/.test(r));
  assert.ok(install && /--no-install-recommends/.test(install) && /\biptables\b/.test(install), 'runtime: apt-get install --no-install-recommends iptables');
  // The watcher moves connections whose route changed: conntrack (conntrack-tools) and ss (iproute2).
  assert.ok(/\bconntrack\b/.test(install) && /\biproute2\b/.test(install), 'runtime: conntrack and iproute2 installed');
  assert.ok(/rm -rf \/var\/lib\/apt\/lists/.test(install), 'apt lists removed');
  assert.ok(!runs(runtime).some((r) => /\bnpm (ci|install)\b/.test(r)), 'the runtime installs nothing from npm');

  const users = runtime.instructions.filter((i) => i.op === 'USER');
  assert.equal(users.at(-1)?.args.split(':')[0], '65532', 'final USER is 65532');
  assert.ok(runtime.instructions.findIndex((i) => i.op === 'USER') > runtime.instructions.findIndex((i) => i.op === 'RUN'), 'USER after the root-only RUN steps');
  const expose = runtime.instructions.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  assert.ok(expose.includes('8443') && expose.includes('8081'), 'EXPOSE 8443 8081');
  const entry = runtime.instructions.find((i) => i.op === 'ENTRYPOINT');
  assert.deepEqual(JSON.parse(entry?.args ?? 'null'), ['ghostwire']);
  assert.ok(runtime.instructions.some((i) => i.op === 'LABEL' && /org\.opencontainers\.image\.title/.test(i.args)));
  const versionArg = runtime.instructions.find((i) => i.op === 'ARG' && i.args.startsWith('VERSION='));
  assert.equal(versionArg?.args, `VERSION=${pkg.version}`, 'image version label default = package.json version');

  // `ghostwire` on PATH -> the package's bin, inside the runtime WORKDIR.
  const workdir = runtime.instructions.find((i) => i.op === 'WORKDIR')?.args as string;
  const link = runs(runtime).map((r) => /ln -s (\S+) (\S+)/.exec(r)).find(Boolean);
  assert.ok(link, 'a symlink puts ghostwire on PATH');
  assert.equal(link[2], '/usr/local/bin/ghostwire');
  assert.equal(link[1], posix.join(workdir, pkg.bin.ghostwire as string), 'the symlink targets package.json "bin"');
  assert.ok(runs(build).some((r) => r.includes(`chmod 0755 ${pkg.bin.ghostwire}`)), 'the bin is executable');
});

test('Dockerfile: COPY paths exist in the repo, survive .dockerignore, and the runtime gets exactly package.json, node_modules, dist/src', () => {
  const { stages } = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
  const [build, runtime] = stages as [Stage, Stage];
  const ignored = dockerignore();
  const buildDir = build.instructions.find((i) => i.op === 'WORKDIR')?.args as string;
  const produced = new Set<string>();
  for (const ins of build.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
    assert.equal(ins.op, 'COPY', 'COPY, not ADD');
    const c = copyOf(ins);
    assert.equal(c.from, undefined);
    for (const src of c.sources) {
      assert.ok(existsSync(repoPath(src)), `COPY ${src} (line ${ins.line}) exists in the repo`);
      assert.ok(!ignored.some((re) => re.test(src)), `${src} is not excluded by .dockerignore`);
      const dest = c.dest.endsWith('/') ? posix.join(buildDir, c.dest, posix.basename(src)) : posix.join(buildDir, c.dest);
      produced.add(dest);
    }
  }
  // What the build stage creates itself: node_modules (npm ci) and dist/src (tsc: outDir dist, rootDir .).
  const tsconfig = JSON.parse(readFileSync(repoPath('tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
  assert.equal(tsconfig.compilerOptions.rootDir, '.');
  produced.add(posix.join(buildDir, 'node_modules'));
  produced.add(posix.join(buildDir, tsconfig.compilerOptions.outDir, 'src'));
  assert.ok(existsSync(repoPath(tsconfig.compilerOptions.outDir, 'src', 'cli.js')), 'the local build has dist/src/cli.js, where the image expects it');

  const copied = runtime.instructions.filter((i) => i.op === 'COPY').map(copyOf);
  for (const c of copied) {
    assert.equal(c.from, 'build', 'the runtime copies only from the build stage');
    for (const src of c.sources) assert.ok(produced.has(src), `${src} is produced by the build stage (have ${[...produced].join(', ')})`);
  }
  assert.deepEqual(copied.map((c) => posix.normalize(c.dest).replace(/^\.\//, '')).sort(), ['dist/src', 'node_modules', 'package.json']);
  // ...which is the npm tarball's content plus its production dependencies.
  assert.deepEqual(pkg.files.filter((f) => f.startsWith('dist')), ['dist/src']);
  assert.ok(!pkg.files.some((f) => f.startsWith('charts') || f.startsWith('test') || f.startsWith('src')), 'the chart, tests and sources stay out of the package');
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'src']) assert.ok(!ignored.some((re) => re.test(needed)), `${needed} reaches the build context`);
  for (const left of ['node_modules', 'dist', 'test', 'charts', '.git']) assert.ok(ignored.some((re) => re.test(left)), `${left} stays out of the build context`);
});

// ---------------------------------------------------------------------------------------------------------------
// The runtime file set, reproduced with npm

let work: string;
let prefix: string;
let binDir: string;
let packed: string[] = [];

/** npm's own variables from the outer `npm run` (npm_config_local_prefix, ...) must not steer the inner npm. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'KUBECONFIG') env[k] = v;
  return { ...env, ...extra };
}

function npm(args: string[], cwd: string): string {
  const r = spawnSync('npm', args, { cwd, env: cleanEnv({ npm_config_update_notifier: 'false' }), encoding: 'utf8', timeout: 300_000, maxBuffer: 32 * 1024 * 1024 });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}`);
  return r.stdout;
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'gw-image-'));
  prefix = join(work, 'image');
  mkdirSync(prefix);
  const out = JSON.parse(npm(['pack', '--json', '--pack-destination', work], REPO_ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const tarball = join(work, out[0]!.filename);
  packed = out[0]!.files.map((f) => f.path);
  writeFileSync(join(prefix, 'package.json'), JSON.stringify({ name: 'gw-image-probe', version: '0.0.0', private: true }));
  npm(['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--no-save', tarball], prefix);
  binDir = join(prefix, 'node_modules', '.bin');
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const ghostwireEnv = (extra: Record<string, string> = {}) => cleanEnv({ PATH: `${binDir}:${process.env.PATH ?? ''}`, ...extra });

function ghostwire(args: string[], input?: string) {
  // By name, through PATH, from an unrelated directory: nothing can resolve into the repository.
  const r = spawnSync('ghostwire', args, { cwd: prefix, env: ghostwireEnv(), input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}

test('the package holds dist/src, package.json and README only: no chart, tests, sources or dev dependencies', () => {
  assert.ok(packed.includes('package.json'));
  assert.ok(packed.includes(pkg.bin.ghostwire as string), 'the bin is packed');
  for (const f of packed) {
    assert.ok(f === 'package.json' || /^README(\.md)?$/i.test(f) || /^LICENSE/i.test(f) || f.startsWith('dist/src/'), `unexpected file in the package: ${f}`);
    assert.ok(!f.endsWith('.ts') || f.endsWith('.d.ts'), `no TypeScript sources: ${f}`);
  }
  const installed = join(prefix, 'node_modules');
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(installed, dep, 'package.json')), `dependency ${dep} installed`);
  // Dev-only packages per the lockfile (a dev dependency that production code also pulls in, like @types/node via
  // @kubernetes/client-node, is legitimately present).
  const lock = JSON.parse(readFileSync(repoPath('package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const nameOf = (key: string) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
  const prodNames = new Set(Object.entries(lock.packages).filter(([k, v]) => k !== '' && !v.dev).map(([k]) => nameOf(k)));
  const devOnly = [...new Set(Object.entries(lock.packages).filter(([k, v]) => v.dev).map(([k]) => nameOf(k)))].filter((n) => !prodNames.has(n));
  for (const dev of Object.keys(pkg.devDependencies)) if (!prodNames.has(dev)) assert.ok(devOnly.includes(dev));
  assert.ok(devOnly.includes('typescript'));
  for (const dev of devOnly) assert.ok(!existsSync(join(installed, dev)), `dev-only package ${dev} NOT installed`);
  assert.ok(!existsSync(join(installed, 'ghostwire', 'charts')) && !existsSync(join(installed, 'ghostwire', 'test')));
  assert.ok(readdirSync(binDir).includes('ghostwire'));
  assert.match(readFileSync(join(installed, 'ghostwire', pkg.bin.ghostwire as string), 'utf8'), /^#!\/usr\/bin\/env node\n/, 'node shebang');
});

test('kubectl-ghostwire (the kubectl plugin) is on PATH from the production install and runs ghostwire status', () => {
  assert.equal(pkg.bin['kubectl-ghostwire'], pkg.bin.ghostwire, 'the same entry point');
  assert.ok(readdirSync(binDir).includes('kubectl-ghostwire'));
  const r = spawnSync('kubectl-ghostwire', ['status', '--help'], { cwd: prefix, env: ghostwireEnv(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: ghostwire status /);
  const bad = spawnSync('kubectl-ghostwire', ['status', '-o', 'xml'], { cwd: prefix, env: ghostwireEnv(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2);
});

test('ghostwire --version and --help run from the production install', () => {
  const v = ghostwire(['--version']);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), VERSION);
  const h = ghostwire(['--help']);
  assert.equal(h.status, 0, h.stderr);
  for (const cmd of ['serve', 'init', 'watch', 'inject', 'certs', 'shadow', 'status']) assert.match(h.stdout, new RegExp(`\\b${cmd}\\b`));
});

test('ghostwire inject on a Deployment (production install) adds the init container and watcher', () => {
  const deployment = [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: {name: orders-web, namespace: shop, annotations: {ghostwire.dev/enabled: "true"}}',
    'spec:',
    '  selector: {matchLabels: {app: orders-web}}',
    '  template:',
    '    metadata: {labels: {app: orders-web, role: active}}',
    '    spec: {containers: [{name: web, image: "orders-web:1.4.2"}]}',
  ].join('\n');
  const r = ghostwire(['inject', '-f', '-', '-n', 'shop'], deployment);
  assert.equal(r.status, 0, r.stderr);
  const [doc] = parseAllDocuments(r.stdout).map((d) => d.toJS()) as any[];
  const spec = doc.spec.template.spec;
  assert.deepEqual(spec.initContainers.map((c: any) => c.name), ['ghostwire-init']);
  assert.deepEqual(spec.containers.map((c: any) => c.name), ['web', 'ghostwire-watcher']);
  assert.deepEqual(spec.initContainers[0].command, ['ghostwire', 'init'], 'the injected containers call ghostwire by name: it must be on PATH in the image');
  assert.deepEqual(spec.containers[1].command, ['ghostwire', 'watch']);
  assert.equal(spec.initContainers[0].securityContext.runAsUser, 0, 'injected containers run as root themselves (the image default is 65532)');
  assert.ok(doc.spec.template.metadata.annotations['ghostwire.dev/status']);
});

// A tiny Kubernetes API stand-in over plain HTTP for `ghostwire init`: lists the Services of one namespace.
function startServiceStub(namespace: string, services: object[]): Promise<{ server: Server; url: string; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    paths.push(url.pathname);
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && url.pathname === `/api/v1/namespaces/${namespace}/services`) {
      res.end(JSON.stringify({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '100' }, items: services }));
      return;
    }
    res.statusCode = 404;
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${url.pathname} not found` }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths })));
}

const service = (name: string, ip: string, port = 80) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'shop' },
  spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ipFamilies: ['IPv4'], ports: [{ name: 'http', port, protocol: 'TCP', targetPort: 8080 }] },
});

function runAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('ghostwire init --dry-run (production install) prints the iptables-restore payload and the DNAT map, touching nothing', async (t) => {
  // `init --dry-run` lands with the runtime work; until then this build has a placeholder `init`.
  const help = ghostwire(['init', '--help']);
  if (help.status !== 0 || !help.stdout.includes('--dry-run')) {
    t.skip('ghostwire init --dry-run is not in this build yet (placeholder init); this test runs once the runtime branch is merged');
    return;
  }
  const stub = await startServiceStub('shop', [service('orders', '10.96.0.20'), service('orders-preview', '10.96.0.21'), service('db', '10.96.3.3', 5432)]);
  t.after(() => stub.server.close());
  const dir = join(work, 'init');
  mkdirSync(dir, { recursive: true });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: stub, cluster: {server: "${stub.url}"}}]`,
    'users: [{name: stub, user: {token: stub-token}}]',
    'contexts: [{name: stub, context: {cluster: stub, user: stub, namespace: shop}}]',
    'current-context: stub',
    '',
  ].join('\n'));
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\n');
  const mapPath = join(dir, 'shared', 'dnat.map');
  const env = ghostwireEnv({
    KUBECONFIG: kubeconfig,
    POD_NAMESPACE: 'shop',
    GW_NAT_CHAIN: 'CANARY_DNAT',
    GW_SVC_PREVIEW_PATTERN: '{{name}}-preview',
    GW_IPTABLES_DNAT_MAP: mapPath,
    GW_LOG_LEVEL: 'info',
  });
  const r = await runAsync('ghostwire', ['init', '--dry-run', '--resolv-conf', resolv], env, prefix);
  assert.equal(r.code, 0, `init --dry-run failed:\n${r.stderr}`);
  assert.ok(stub.paths.includes('/api/v1/namespaces/shop/services'), `Services listed through KUBECONFIG (requests: ${stub.paths.join(', ')})`);
  assert.match(r.stdout, /iptables-restore/, 'the payload is labelled with the command that would apply it');
  assert.match(r.stdout, /^\*nat$/m);
  assert.match(r.stdout, /^COMMIT$/m);
  assert.match(r.stdout, /-A CANARY_DNAT .*-d 10\.96\.0\.20\/32 .*-j DNAT --to-destination 10\.96\.0\.21:80/, 'orders -> orders-preview');
  assert.doesNotMatch(r.stdout, /10\.96\.3\.3/, 'a Service without a twin gets no rule');
  assert.doesNotMatch(r.stdout, /^-A (OUTPUT|PREROUTING) /m, 'without POD_NAME init leaves the jump alone');
  assert.match(r.stdout, /# ghostwire DNAT map/, 'the DNAT map is printed');
  assert.equal(existsSync(mapPath), false, 'a dry run writes no map file');
  assert.doesNotMatch(r.stdout, /stub-token/, 'no credentials in the output');
  assert.doesNotMatch(r.stderr, /stub-token/, 'no credentials in the logs');
});

test('the chart and the image agree: the chart calls `ghostwire` by name and runs it as uid 65532', () => {
  const values = parseYaml(readFileSync(repoPath('charts', 'ghostwire', 'values.yaml'), 'utf8')) as { image: { repository: string } };
  assert.doesNotMatch(values.image.repository, /\./, 'no registry host in the default image');
  const deployment = readFileSync(repoPath('charts', 'ghostwire', 'templates', 'deployment.yaml'), 'utf8');
  assert.match(deployment, /command: \["ghostwire"\]/);
  const helpers = readFileSync(repoPath('charts', 'ghostwire', 'templates', '_helpers.tpl'), 'utf8');
  assert.match(helpers, /runAsUser: 65532/);
});
