// The llama-f32 fixture (no tokenizer: token-id prompts), through the official openai client and raw HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';
import { startServer, metric, sleep, LLAMA_F32 } from './helpers.mjs';

let server;
let client;
before(async () => {
  server = await startServer(LLAMA_F32, ['--api-key', 'sekrit', '--read-timeout', '1', '--max-request-bytes', '65536',
    '--served-model-name', 'llama-f32']);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sekrit', maxRetries: 0 });
});
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, 'SIGTERM drains and exits 0');
});

test('models lists the served name', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['llama-f32']);
});

test('completion from token ids, with usage, n and logprobs', async () => {
  const r = await client.completions.create({ model: 'llama-f32', prompt: [1, 450, 496], max_tokens: 5,
    temperature: 0, n: 2, logprobs: 2, ignore_eos: true });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices.length, 2);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.choices[0].logprobs.token_logprobs.length, 5);
  assert.equal(r.choices[0].logprobs.tokens[0].startsWith('token_id:'), true);
  assert.deepEqual(r.usage, { prompt_tokens: 3, completion_tokens: 10, total_tokens: 13 });
  // greedy: both choices agree
  assert.deepEqual(r.choices[0].logprobs.tokens, r.choices[1].logprobs.tokens);
});

test('a list of prompts gives one choice per prompt times n', async () => {
  const r = await client.completions.create({ model: 'llama-f32', prompt: [[1, 2], [3, 4, 5]], max_tokens: 2, n: 2, seed: 7 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(r.usage.prompt_tokens, 5);
  assert.equal(r.usage.completion_tokens, 8);
});

test('streaming completion ends with usage and [DONE]', async () => {
  const stream = await client.completions.create({ model: 'llama-f32', prompt: [1, 2, 3], max_tokens: 4, stream: true,
    stream_options: { include_usage: true }, ignore_eos: true });
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(finish, 'length');
  assert.deepEqual(usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
});

test('errors raise the SDK error classes', async () => {
  await assert.rejects(client.completions.create({ model: 'llama-f32', prompt: [1], top_p: 5 }), OpenAI.BadRequestError);
  await assert.rejects(client.completions.create({ model: 'nope', prompt: [1] }), OpenAI.NotFoundError);
  await assert.rejects(client.completions.create({ model: 'llama-f32', prompt: 'text needs a tokenizer' }), OpenAI.BadRequestError);
  await assert.rejects(client.completions.create({ model: 'llama-f32', prompt: [1], max_tokens: 100000 }), OpenAI.BadRequestError);
  await assert.rejects(client.completions.create({ model: 'llama-f32', prompt: [999999] }), OpenAI.BadRequestError);
  const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), OpenAI.AuthenticationError);
});

async function post(path, body, headers = { 'content-type': 'application/json', authorization: 'Bearer sekrit' }) {
  const r = await fetch(server.url + path, { method: 'POST', headers, body });
  return { status: r.status, body: await r.json() };
}

test('malformed requests are 4xx with error objects', async () => {
  let r = await post('/v1/completions', '{"prompt": [1, 2');
  assert.equal(r.status, 400);
  assert.equal(r.body.error.type, 'invalid_request_error');
  r = await post('/v1/completions', '{"prompt": [1]}', { 'content-type': 'text/plain', authorization: 'Bearer sekrit' });
  assert.equal(r.status, 400);
  r = await post('/v1/completions', Buffer.from([0x7b, 0x22, 0x70, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
  assert.equal(r.status, 400);
  r = await post('/v1/nothing', '{}');
  assert.equal(r.status, 404);
  const g = await fetch(`${server.url}/v1/completions`, { headers: { authorization: 'Bearer sekrit' } });
  assert.equal(g.status, 405);
  r = await post('/v1/completions', JSON.stringify({ prompt: [1], pad: 'x'.repeat(100000) }));
  assert.equal(r.status, 413);
});

test('a slow client is cut off at the read timeout', async () => {
  const port = new URL(server.url).port;
  const sock = net.connect(Number(port), '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  sock.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\n');
  const start = Date.now();
  await new Promise((r) => sock.on('close', r));
  const ms = Date.now() - start;
  assert.ok(ms < 3000, `closed after ${ms} ms`);
});

test('a client that disconnects mid-stream aborts its request', async () => {
  const before = await metric(server.url, 'osprey:request_success_total{model_name="llama-f32",finished_reason="abort"}');
  // A raw socket: read the first event, then hang up.
  const sock = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  const body = JSON.stringify({ prompt: [1, 2, 3], max_tokens: 500, ignore_eos: true, stream: true });
  sock.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekrit\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await new Promise((r) => sock.once('data', r));
  sock.destroy();
  let aborted;
  for (let i = 0; i < 100; ++i) {
    await sleep(50);
    aborted = await metric(server.url, 'osprey:request_success_total{model_name="llama-f32",finished_reason="abort"}');
    if (aborted > before) break;
  }
  assert.equal(aborted, before + 1);
  assert.equal(await metric(server.url, 'osprey:kv_cache_usage_perc'), 0);
  assert.equal(await metric(server.url, 'osprey:num_requests_running'), 0);
});
