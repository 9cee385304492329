// SIGTERM under load loses no accepted request: every request the server accepted before the signal
// ends with a complete response (streamed to [DONE], or a whole JSON body with a finish_reason) or an
// explicit error, the server stops accepting new connections, and it exits 0.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, LLAMA_F32 } from './helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function request(port, body) {
  const data = JSON.stringify(body);
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/completions', method: 'POST',
      agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
    (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text, firstByte: true }));
      res.on('error', (e) => resolve({ status: res.statusCode, text, error: e.code || e.message }));
    });
    req.on('error', (e) => resolve({ error: e.code || e.message }));
    req.end(data);
  });
}

let server;
after(async () => { if (server) await server.stop(); });

test('SIGTERM drains accepted requests and exits 0', async () => {
  server = await startServer(LLAMA_F32, ['--max-num-seqs', '4', '--drain-timeout', '60']);
  const port = Number(new URL(server.url).port);
  const pending = [];
  for (let i = 0; i < 24; ++i) {
    pending.push(request(port, { prompt: [1, 2, 3, 4 + i], max_tokens: 40, ignore_eos: true,
      stream: i % 2 === 0 }));
  }
  await sleep(300);  // all accepted and running or queued
  server.proc.kill('SIGTERM');
  const results = await Promise.all(pending);
  for (const [i, r] of results.entries()) {
    assert.equal(r.error, undefined, `request ${i}: transport error ${r.error}`);
    if (r.status === 200 && i % 2 === 0) {
      assert.match(r.text, /data: \[DONE\]\n\n$/, `request ${i}: stream not completed`);
      assert.doesNotMatch(r.text, /"error"/, `request ${i}: stream ended in an error`);
    } else if (r.status === 200) {
      const body = JSON.parse(r.text);
      assert.equal(body.choices[0].finish_reason, 'length', `request ${i}`);
      assert.equal(body.usage.completion_tokens, 40, `request ${i}`);
    } else {
      // Refused explicitly (shutting down): an OpenAI error object, never silence.
      assert.equal(r.status, 503, `request ${i}: status ${r.status}`);
      assert.ok(JSON.parse(r.text).error.message, `request ${i}`);
    }
  }
  const completed = results.filter((r) => r.status === 200).length;
  assert.ok(completed >= 1, 'requests accepted before the signal complete');
  const exit = await server.exited;  // no second signal: that one means "exit now"
  assert.equal(exit.code, 0, server.stderr());
  // Nothing listens any more.
  const late = await request(port, { prompt: [1], max_tokens: 1 });
  assert.equal(late.error, 'ECONNREFUSED');
  server = null;
});
