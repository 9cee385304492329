// The bundled demo model (models/osprey-kjv-demo, trained on the King James Bible) through the real
// server with the official openai client: streamed greedy continuations of famous passages of its
// training text reproduce the text, one at a time and several at once (batched on the server).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startServer } from './helpers.mjs';

const MODEL = join(dirname(fileURLToPath(import.meta.url)), '../../models/osprey-kjv-demo');
const opts = existsSync(join(MODEL, 'config.json')) ? {} : { skip: `no demo model at ${MODEL}` };

// Prompt and what follows it in the KJV, as the model was trained (a chapter heading line, then one
// verse per line; Psalm 23's first verse needs its heading to be recognized).
const PASSAGES = [
  ['In the beginning God created',
    ' the heaven and the earth.\nAnd the earth was without form, and void; and darkness was upon the face of the deep.'],
  ['Psalms 23\nThe LORD is my shepherd;',
    ' I shall not want.\nHe maketh me to lie down in green pastures: he leadeth me beside the still waters.'],
  ['For God so loved the world,',
    ' that he gave his only begotten Son, that whosoever believeth in him should not perish, but have everlasting life.'],
  ['In the beginning was the Word,',
    ' and the Word was with God, and the Word was God.\nThe same was in the beginning with God.'],
];
const WORDS = 12;  // words of each continuation compared, position by position; 80% must match

function assertReproduces(got, expected, prompt) {
  const g = got.split(/\s+/).filter(Boolean);
  const e = expected.split(/\s+/).filter(Boolean).slice(0, WORDS);
  let same = 0;
  e.forEach((w, i) => { if (g[i] === w) same += 1; });
  assert.ok(same >= 0.8 * e.length, `${JSON.stringify(prompt)} continued as ${JSON.stringify(got)}`);
}

let server;
let client;
before(async () => {
  if (opts.skip) return;
  server = await startServer(MODEL);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  if (server) assert.equal((await server.stop()).code, 0);
});

async function streamCompletion(prompt) {
  const stream = await client.completions.create({ model: 'osprey-kjv-demo', prompt, max_tokens: 24,
    temperature: 0, stream: true });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text || '';
    chunks += 1;
  }
  return { text, chunks };
}

test('the server names the demo model', opts, async () => {
  const models = (await client.models.list()).data.map((m) => m.id);
  assert.ok(models.includes('osprey-kjv-demo'), JSON.stringify(models));
});

test('streamed completion continues Genesis 1:1', opts, async () => {
  const { text, chunks } = await streamCompletion(PASSAGES[0][0]);
  assert.ok(chunks > 5, `${chunks} chunks: not streamed token by token`);
  assert.ok(text.startsWith(' the heaven and the earth.'), JSON.stringify(text));
  assertReproduces(text, PASSAGES[0][1], PASSAGES[0][0]);
});

test('streamed completions of four passages at once', opts, async () => {
  const results = await Promise.all(PASSAGES.map(([p]) => streamCompletion(p)));
  results.forEach(({ text }, i) => assertReproduces(text, PASSAGES[i][1], PASSAGES[i][0]));
});

test('streamed chat completion: the template passes the message through to be continued', opts, async () => {
  const stream = await client.chat.completions.create({ model: 'osprey-kjv-demo', max_tokens: 24,
    temperature: 0, stream: true, messages: [{ role: 'user', content: PASSAGES[2][0] }] });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content || '';
  assertReproduces(text, PASSAGES[2][1], PASSAGES[2][0]);
});
