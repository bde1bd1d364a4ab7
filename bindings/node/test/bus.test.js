'use strict';
const test = require('node:test');
const assert = require('node:assert');
const strapto = require('strapto');
const { withTimeout } = require('./helpers');

test('Bus: publish, subscribe by prefix, replay', async () => {
  const ctx = new strapto.Context({ threads: 2, busReplay: 5 });
  try {
    const bus = ctx.bus;
    const got = [];
    let done;
    const finished = new Promise((r) => { done = r; });
    const sub = bus.subscribe('stt_', (ev) => {
      got.push(ev);
      if (got.length === 3) done();
    });
    assert.ok(sub instanceof strapto.Subscription);
    const s1 = bus.publish('stt_partial', { text: 'hel' }, 'mic');
    bus.publish('llm_token', { t: 'x' });
    bus.publishJson('stt_final', '{"text":"hello ☃"}');
    bus.publish('stt_empty');
    await withTimeout(finished, 5000, 'bus events');
    assert.deepStrictEqual(got.map((e) => e.type), ['stt_partial', 'stt_final', 'stt_empty']);
    assert.strictEqual(got[0].seq, s1);
    assert.strictEqual(got[0].source, 'mic');
    assert.deepStrictEqual(got[0].data, { text: 'hel' });
    assert.deepStrictEqual(got[1].data, { text: 'hello ☃' });
    assert.deepStrictEqual(got[2].data, {});
    assert.ok(got[0].timestamp instanceof Date);
    assert.ok(Math.abs(got[0].timestamp.getTime() - Date.now()) < 60000);
    assert.ok(got[1].seq > got[0].seq);
    assert.strictEqual(sub.dropped, 0);
    assert.strictEqual(bus.lastSeq, 4);

    const all = bus.replay();
    assert.deepStrictEqual(all.map((e) => e.seq), [1, 2, 3, 4]);
    assert.deepStrictEqual(bus.replay('llm').map((e) => e.type), ['llm_token']);

    await sub.unsubscribe();
    bus.publish('stt_after', {});
    await new Promise((r) => setTimeout(r, 100));
    assert.strictEqual(got.length, 3);
  } finally {
    await ctx.close();
  }
});

test('Bus: errors for bad input', async () => {
  const ctx = new strapto.Context({ threads: 1 });
  try {
    assert.throws(() => ctx.bus.publishJson('x', '{nope'), (e) => e.code === 'STRAPTO_EPARSE');
    assert.throws(() => ctx.bus.publish('t'.repeat(200), {}), (e) => e.code === 'STRAPTO_ETOOBIG');
  } finally {
    await ctx.close();
  }
});

test('Bus: unsubscribe from inside the listener, many events', async () => {
  const ctx = new strapto.Context({ threads: 2 });
  try {
    let n = 0;
    let sub;
    const closed = new Promise((resolve) => {
      sub = ctx.bus.subscribe('n', () => {
        n++;
        if (n === 50) sub.unsubscribe().then(resolve);
      });
    });
    for (let i = 0; i < 200; i++) ctx.bus.publish('n', { i });
    await withTimeout(closed, 5000, 'unsubscribe');
    assert.ok(n >= 50);
  } finally {
    await ctx.close();
  }
});
