// `loupe server --bind`: the server warns in its log when it serves the API
// on an address other machines can reach, since it speaks no TLS, and stays
// quiet on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { poll, startServer } from './lib/server.mjs';

const kWarning = /WARN.*API and dashboard are served on 0\.0\.0\.0:\d+ without TLS/;

test('serving the API on 0.0.0.0 logs a warning that it has no TLS', { timeout: 30_000 }, async () => {
  const srv = await startServer({ args: ['--bind', '0.0.0.0'] });
  try {
    await poll(async () => srv.output(), (o) => kWarning.test(o), { timeoutMs: 5000, intervalMs: 50 });
    assert.match(srv.output(), kWarning);
  } finally {
    await srv.stop();
  }
});

test('serving the API on 127.0.0.1 logs no TLS warning', { timeout: 30_000 }, async () => {
  const srv = await startServer();
  try {
    await poll(async () => srv.output(), (o) => /serving: dashboard\+API/.test(o), { timeoutMs: 5000, intervalMs: 50 });
    assert.doesNotMatch(srv.output(), /without TLS/);
  } finally {
    await srv.stop();
  }
});
