'use strict';
const test = require('node:test');
const assert = require('node:assert');
const strapto = require('strapto');
const { wsConnect, nextMessage, withTimeout, once } = require('./helpers');

test('EventHub: replay, bus events, consumer_input and commands', async () => {
  const ctx = new strapto.Context({ threads: 2 });
  try {
    ctx.bus.publish('system_info', { before: true });
    const hub = await strapto.EventHub.create(ctx, { listen: '127.0.0.1:0' });
    assert.ok(hub instanceof strapto.EventHub);
    assert.ok(hub.port > 0);
    assert.strictEqual(hub.clients, 0);

    const ws = await wsConnect(hub.port, '/events');
    const replay = await withTimeout(nextMessage(ws, (m) => m.type === 'replay'), 5000, 'replay');
    assert.deepStrictEqual(replay.data.events.map((e) => e.type), ['system_info']);
    assert.strictEqual(hub.clients, 1);

    /* a bus event reaches the client */
    const seen = nextMessage(ws, (m) => m.type === 'llm_token');
    ctx.bus.publish('llm_token', { token: 'hi' });
    const ev = await withTimeout(seen, 5000, 'llm_token');
    assert.deepStrictEqual(ev.data, { token: 'hi' });
    assert.match(ev.timestamp, /^\d{4}-\d\d-\d\dT/);

    /* consumer_input from the client lands on the bus */
    const input = new Promise((resolve) => {
      const sub = ctx.bus.subscribe('consumer_input', (e) => { sub.unsubscribe(); resolve(e); });
    });
    ws.send(JSON.stringify({ type: 'consumer_input', data: { text: 'hello' } }));
    assert.deepStrictEqual((await withTimeout(input, 5000, 'consumer_input')).data.text, 'hello');

    /* a command the hub does not know goes to the 'command' event */
    const cmd = once(hub, 'command');
    ws.send(JSON.stringify({ type: 'my_command', data: { a: 1 } }));
    const [c] = await withTimeout(cmd, 5000, 'command');
    assert.strictEqual(c.type, 'my_command');
    assert.deepStrictEqual(c.data, { a: 1 });
    assert.strictEqual(typeof c.clientId, 'bigint');

    ws.close();
    await hub.close();
    assert.strictEqual(hub.port, 0);
  } finally {
    await ctx.close();
  }
});

test('EventHub: a bad address is refused', async () => {
  const ctx = new strapto.Context({ threads: 1 });
  try {
    await assert.rejects(strapto.EventHub.create(ctx, { listen: 'not an address' }), (e) => e instanceof strapto.StraptoError);
  } finally {
    await ctx.close();
  }
});
