// Soak test for `osprey serve` (loopback only, bounded in time and count): CLIENTS concurrent
// streaming completions per round, a fraction of them hanging up at a random point. After each round
// every request must be accounted for in /metrics (finished or aborted), no request may still run
// or wait, and every KV block must be free; the resident memory after the second round must be
// within 10% of that after the first (no leak).
//
//   node tests/e2e/soak.mjs [--clients 1000] [--disconnect 0.2] [--rounds 2] [--max-tokens 24]
//                           [--deadline-s 600] [--model DIR]
// Without --model it serves a tiny random model with Llama 3's tokenizer (scripts/fetch-tokenizers.sh).
// Exit code 0 when every check passes, 1 otherwise.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startServer, tinyModelWithTokenizer } from './helpers.mjs';

const { values: opt } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    disconnect: { type: 'string', default: '0.2' },
    rounds: { type: 'string', default: '2' },
    'max-tokens': { type: 'string', default: '24' },
    'deadline-s': { type: 'string', default: '600' },
    model: { type: 'string' },
    seed: { type: 'string', default: '1' },
  },
});
const CLIENTS = Number(opt.clients);
const DISCONNECT = Number(opt.disconnect);
const ROUNDS = Number(opt.rounds);
const MAX_TOKENS = Number(opt['max-tokens']);
const deadline = Date.now() + Number(opt['deadline-s']) * 1000;

// A small deterministic generator, so that both rounds send the same requests.
function rng(seed) {
  let s = BigInt(seed) | 1n;
  return () => {
    s ^= s << 13n; s &= (1n << 64n) - 1n; s ^= s >> 7n; s ^= s << 17n; s &= (1n << 64n) - 1n;
    return Number(s % 1000000n) / 1000000;
  };
}

const model = opt.model || tinyModelWithTokenizer();
if (!model) {
  console.error('soak: no model (run scripts/fetch-tokenizers.sh, or pass --model)');
  process.exit(1);
}
const server = await startServer(model, ['--max-waiting', String(CLIENTS * 2), '--max-num-seqs', '128',
  '--read-timeout', '120']);
const port = Number(new URL(server.url).port);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

function rssKiB() {
  const m = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return Number(m[1]);
}

async function metrics() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const sum = (name, filter = '') => text.split('\n')
    .filter((l) => l.startsWith(name) && l.includes(filter))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    finished: sum('osprey:request_success_total{'),
    aborted: sum('osprey:request_success_total{', 'finished_reason="abort"'),
    running: sum('osprey:num_requests_running'),
    waiting: sum('osprey:num_requests_waiting'),
    kv: sum('osprey:kv_cache_usage_perc'),
  };
}

// One streaming request; resolves to 'done' (saw [DONE]), 'hung-up' (we disconnected) or an error.
function streamOne(i, rand) {
  const promptLen = 4 + Math.floor(rand() * 60);
  const hangUpAfter = rand() < DISCONNECT ? Math.floor(rand() * MAX_TOKENS) : -1;
  const prompt = Array.from({ length: promptLen }, () => 1000 + Math.floor(rand() * 30000));
  const body = JSON.stringify({ prompt, max_tokens: MAX_TOKENS, ignore_eos: true, stream: true,
    temperature: 1.0, seed: i });
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/completions', method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve(`http-${res.statusCode}`);
        return;
      }
      let events = 0, buf = '';
      if (hangUpAfter === 0) { req.destroy(); resolve('hung-up'); return; }
      res.on('data', (d) => {
        buf += d;
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, k); buf = buf.slice(k + 2);
          if (ev === 'data: [DONE]') { resolve('done'); return; }
          if (++events >= hangUpAfter && hangUpAfter > 0) { req.destroy(); resolve('hung-up'); return; }
        }
      });
      res.on('end', () => resolve(buf.includes('[DONE]') ? 'done' : 'truncated'));
      res.on('error', () => resolve('hung-up'));
    });
    req.on('error', (e) => resolve(`error-${e.code || e.message}`));
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let ok = true;
const check = (cond, what) => {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
  if (!cond) ok = false;
};

const rss = [];
let before = await metrics();
for (let round = 1; round <= ROUNDS && Date.now() < deadline; ++round) {
  const rand = rng(Number(opt.seed));
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => streamOne(i, rand)));
  const counts = {};
  for (const r of results) counts[r] = (counts[r] || 0) + 1;
  console.log(`round ${round}: ${CLIENTS} clients in ${((Date.now() - t0) / 1000).toFixed(1)} s:`, counts);
  // The server notices hang-ups within an engine step; give it a moment to account for them.
  let m;
  for (let i = 0; i < 200; ++i) {
    m = await metrics();
    if (m.finished - before.finished >= CLIENTS && m.running === 0 && m.waiting === 0) break;
    await sleep(50);
  }
  check((counts.done || 0) + (counts['hung-up'] || 0) === CLIENTS, `round ${round}: every client got [DONE] or hung up itself`);
  check(m.finished - before.finished === CLIENTS,
    `round ${round}: every request accounted for in /metrics (${m.finished - before.finished} of ${CLIENTS}; ` +
    `${m.aborted - before.aborted} aborted, ${counts['hung-up'] || 0} clients hung up)`);
  check(m.aborted - before.aborted <= (counts['hung-up'] || 0), `round ${round}: aborts only for clients that hung up`);
  check(m.running === 0 && m.waiting === 0, `round ${round}: nothing running or waiting`);
  check(m.kv === 0, `round ${round}: every KV block is free (usage ${m.kv})`);
  rss.push(rssKiB());
  console.log(`round ${round}: resident memory ${(rss.at(-1) / 1024).toFixed(1)} MiB`);
  before = m;
}
if (rss.length >= 2) {
  const growth = rss.at(-1) / rss[0] - 1;
  check(growth <= 0.10, `resident memory after the last round within 10% of the first (${(growth * 100).toFixed(1)}%)`);
}
check(rss.length === ROUNDS, `all ${ROUNDS} rounds ran before the deadline`);
server.proc.kill('SIGTERM');
const exit = await server.exited;
check(exit.code === 0, `SIGTERM: server exited 0 (got ${exit.code} ${exit.signal || ''})`);
process.exit(ok ? 0 : 1);
