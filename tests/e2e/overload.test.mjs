// A full waiting queue refuses new requests with 429 and Retry-After (the SDK raises RateLimitError),
// while the requests already accepted complete.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, LLAMA_F32 } from './helpers.mjs';

let server;
after(async () => { if (server) await server.stop(); });

test('a full waiting queue is a 429 with Retry-After', async () => {
  server = await startServer(LLAMA_F32, ['--max-num-seqs', '1', '--max-waiting', '1']);
  const body = JSON.stringify({ prompt: [1, 2, 3], max_tokens: 200, ignore_eos: true });
  const send = () => fetch(`${server.url}/v1/completions`, { method: 'POST', body,
    headers: { 'content-type': 'application/json' } });
  const responses = await Promise.all(Array.from({ length: 6 }, send));
  const statuses = responses.map((r) => r.status);
  const refused = responses.filter((r) => r.status === 429);
  assert.ok(refused.length >= 1, `statuses ${statuses}`);
  assert.ok(statuses.filter((s) => s === 200).length >= 1, `statuses ${statuses}`);
  for (const r of responses) assert.ok(r.status === 200 || r.status === 429, `statuses ${statuses}`);
  for (const r of refused) {
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    const e = await r.json();
    assert.equal(e.error.type, 'rate_limit_error');
    assert.ok(e.error.message.length > 0);
  }
  for (const r of responses.filter((x) => x.status === 200)) {
    assert.equal((await r.json()).usage.completion_tokens, 200);
  }

  // The SDK maps it to its rate-limit error class.
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const busy = Array.from({ length: 3 }, () => client.completions.create({ model: 'llama-f32', prompt: [1, 2],
    max_tokens: 200, ignore_eos: true }).then(() => 'ok', (e) => e));
  const outcomes = await Promise.all(busy);
  assert.ok(outcomes.some((o) => o instanceof OpenAI.RateLimitError), String(outcomes));
});
