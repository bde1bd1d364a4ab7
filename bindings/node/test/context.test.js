'use strict';
const test = require('node:test');
const assert = require('node:assert');
const strapto = require('strapto');

test('Context: create, threads, bus, close', async () => {
  assert.match(strapto.version(), /^\d+\.\d+\.\d+$/);
  const ctx = new strapto.Context({ threads: 3, busReplay: 10 });
  assert.strictEqual(ctx.threads, 3);
  assert.ok(ctx.bus instanceof strapto.Bus);
  await ctx.close();
  await ctx.close(); // idempotent
  assert.throws(() => ctx.threads, (e) => e instanceof strapto.StraptoError && e.code === 'STRAPTO_ECLOSED');
});

test('Context: close frees what is still open', async () => {
  const ctx = new strapto.Context({ threads: 1 });
  const sub = ctx.bus.subscribe('', () => {});
  const peer = new strapto.Peer(ctx, { localAddresses: '127.0.0.1' });
  await ctx.close();
  assert.strictEqual(peer.state, 'closed');
  assert.strictEqual(sub.dropped, 0);
});

test('errors carry the library code', () => {
  assert.strictEqual(strapto.strerror(-8).length > 0, true);
  const ctx = new strapto.Context({ threads: 1 });
  try {
    assert.throws(() => ctx.bus.publish('', {}), (e) => e.code === 'STRAPTO_EINVAL' && e.errno === -1);
  } finally {
    return ctx.close();
  }
});
