// Starting and stopping `osprey serve` for the e2e tests: port 0 (the server prints the port it got),
// ready once /health answers.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, copyFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const BINARY = process.env.OSPREY_BINARY || join(here, '../../build/release/osprey');
export const FIXTURES = process.env.OSPREY_FIXTURES || join(here, '../fixtures');
export const LLAMA_F32 = join(FIXTURES, 'hf-reference/llama-f32');
const TOKENIZER_DIR = join(homedir(), '.cache/osprey/tokenizers/llama3');

// A tiny random-weight model with Llama 3's tokenizer (its output is noise, but real text goes in
// and out); null when the tokenizer has not been fetched (scripts/fetch-tokenizers.sh).
export function tinyModelWithTokenizer() {
  if (!existsSync(join(TOKENIZER_DIR, 'tokenizer.json'))) return null;
  const dir = mkdtempSync(join(tmpdir(), 'osprey-e2e-'));
  execFileSync(BINARY, ['random-model', '--preset', 'tiny', '--vocab', '128256', '--tied', '--dtype', 'f32',
    '--context', '512', '--output', dir, '--seed', '1']);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(TOKENIZER_DIR, f), join(dir, f));
  return dir;
}

export async function startServer(model, extraArgs = []) {
  const proc = spawn(BINARY, ['serve', '--model', model, '--port', '0', '--threads', '2', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OSPREY_LOG_LEVEL: process.env.OSPREY_LOG_LEVEL || 'warn' } });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${stderr}`)); });
  });
  const health = await fetch(`${url}/health`);
  if (health.status !== 200) throw new Error(`/health: ${health.status}`);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    url,
    proc,
    stderr: () => stderr,
    exited,  // resolves to { code, signal } when the process ends
    async stop() {
      if (proc.exitCode !== null) return exited;
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

export async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
