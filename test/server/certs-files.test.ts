// `ghostwire certs` (the compiled CLI) writes the private key only into a file that is 0600 from its first byte: a
// pre-existing world-readable file never receives it, and a symlink at the target name is replaced, never followed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/paths.js';

const certs = (out: string) => spawnSync(process.execPath, [CLI, 'certs', '--out', out, '--service', 'ghostwire', '--namespace', 'gw', '--days', '2'], { encoding: 'utf8' });

function readFd(fd: number): string {
  const buf = Buffer.alloc(64 * 1024);
  const n = readSync(fd, buf, 0, buf.length, 0);
  return buf.subarray(0, n).toString('utf8');
}

test('a pre-existing world-readable tls.key never receives the key: a new 0600 file replaces it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-certs-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tls.key'), 'old content\n', { mode: 0o644 });
  // Whoever could read the old file keeps reading it through this descriptor: it must never show the new key.
  const fd = openSync(join(dir, 'tls.key'), 'r');
  t.after(() => closeSync(fd));
  const oldInode = statSync(join(dir, 'tls.key')).ino;
  const r = certs(dir);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFd(fd), 'old content\n', 'the world-readable file was never written');
  const key = statSync(join(dir, 'tls.key'));
  assert.notEqual(key.ino, oldInode);
  assert.equal(key.mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, 'tls.key'), 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----/);
  assert.deepEqual(readdirSync(dir).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'no temporary file is left');
});

test('symlinks at the target names are replaced, never followed (existing or dangling targets stay untouched)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-certs-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out');
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(out);
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'shared.txt'), 'not yours\n', { mode: 0o644 });
  symlinkSync(join(elsewhere, 'shared.txt'), join(out, 'tls.key'));
  symlinkSync(join(elsewhere, 'new-file'), join(out, 'tls.crt'));
  const r = certs(out);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(elsewhere, 'shared.txt'), 'utf8'), 'not yours\n');
  assert.deepEqual(readdirSync(elsewhere), ['shared.txt'], 'the dangling target was not created');
  for (const name of ['tls.key', 'tls.crt', 'ca.crt']) assert.ok(lstatSync(join(out, name)).isFile(), `${name} is a regular file`);
  assert.equal(statSync(join(out, 'tls.key')).mode & 0o777, 0o600);
});
