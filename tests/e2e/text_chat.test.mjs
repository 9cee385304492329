// A tiny random model with a real tokenizer: text prompts, chat, stop strings, tokenize/detokenize.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, tinyModelWithTokenizer } from './helpers.mjs';

const model = tinyModelWithTokenizer();
const opts = model ? {} : { skip: 'no tokenizer: run scripts/fetch-tokenizers.sh' };
let server;
let client;
let name;
before(async () => {
  if (!model) return;
  server = await startServer(model);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  name = (await client.models.list()).data[0].id;
});
after(async () => {
  if (server) assert.equal((await server.stop()).code, 0);
});

test('text completion', opts, async () => {
  const r = await client.completions.create({ model: name, prompt: 'Hello, world', max_tokens: 6, temperature: 0,
    ignore_eos: true });
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.usage.completion_tokens, 6);
  assert.ok(r.usage.prompt_tokens >= 3);
});

test('chat completion, streaming and not, with logprobs', opts, async () => {
  const messages = [{ role: 'user', content: 'Say something.' }];
  const r = await client.chat.completions.create({ model: name, messages, max_tokens: 5, logprobs: true,
    top_logprobs: 2, ignore_eos: true });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].logprobs.content.length, 5);
  assert.equal(r.choices[0].logprobs.content[0].top_logprobs.length, 2);
  const stream = await client.chat.completions.create({ model: name, messages, max_completion_tokens: 5, stream: true,
    seed: 3, ignore_eos: true, stream_options: { include_usage: true } });
  let text = '';
  let role = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      text += c.delta.content || '';
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(usage.completion_tokens, 5);
  const again = await client.chat.completions.create({ model: name, messages, max_completion_tokens: 5, seed: 3,
    ignore_eos: true });
  assert.equal(again.choices[0].message.content, text, 'same seed, same text, streamed or not');
});

test('stop strings end the completion', opts, async () => {
  const free = await client.completions.create({ model: name, prompt: 'a b c', max_tokens: 12, temperature: 0, ignore_eos: true });
  const text = free.choices[0].text;
  if (text.length < 4) return;
  const stop = text.slice(2, 4);
  const r = await client.completions.create({ model: name, prompt: 'a b c', max_tokens: 12, temperature: 0, stop: [stop],
    ignore_eos: true });
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(!r.choices[0].text.includes(stop));
});

test('tokenize and detokenize', opts, async () => {
  const t = await (await fetch(`${server.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hello world', add_special_tokens: false }) })).json();
  assert.equal(t.count, t.tokens.length);
  assert.equal(t.max_model_len, 512);
  const d = await (await fetch(`${server.url}/detokenize`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tokens: t.tokens }) })).json();
  assert.equal(d.prompt, 'Hello world');
  const c = await (await fetch(`${server.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) })).json();
  assert.ok(c.count > 2);
});

test('a prompt longer than the context is a 400', opts, async () => {
  await assert.rejects(client.completions.create({ model: name, prompt: 'word '.repeat(600) }), OpenAI.BadRequestError);
});
