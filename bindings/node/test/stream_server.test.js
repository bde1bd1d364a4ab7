'use strict';
const test = require('node:test');
const assert = require('node:assert');
const strapto = require('strapto');
const { wsConnect, nextMessage, httpGet, withTimeout } = require('./helpers');

test('StreamServer: model output, consumer input, /status and /health', async () => {
  const ctx = new strapto.Context({ threads: 2 });
  try {
    const outputs = [];
    let wake;
    const sub = ctx.bus.subscribe('model_output', (e) => { outputs.push(e); if (wake) wake(); });
    const waitOutput = (pred) => new Promise((resolve) => {
      const check = () => { const e = outputs.find(pred); if (e) { wake = null; resolve(e); } };
      wake = check;
      check();
    });
    /* the model: prints a greeting, then echoes its stdin line by line */
    const srv = await strapto.StreamServer.create(ctx, {
      listen: '127.0.0.1:0', model: ['/bin/sh', '-c', 'echo ready; exec cat'], inputFormat: 'text',
    });
    assert.ok(srv.port > 0);
    await withTimeout(waitOutput((e) => JSON.stringify(e.data).includes('ready')), 10000, 'model greeting');

    const health = await httpGet(srv.port, '/health');
    assert.strictEqual(health.status, 200);
    const status = await srv.status();
    assert.strictEqual(status.status, 'ok');
    assert.strictEqual(status.model.state, 'running');

    /* a WebSocket client's input goes to the model and its echo comes back */
    const ws = await wsConnect(srv.port, '/events');
    const echoed = nextMessage(ws, (m) => m.type === 'model_output' && JSON.stringify(m.data).includes('from-node'));
    ws.send(JSON.stringify({ type: 'consumer_input', data: { text: 'from-node' } }));
    await withTimeout(echoed, 10000, 'model echo');
    ws.close();

    await sub.unsubscribe();
    await srv.close();
    assert.strictEqual(srv.port, 0);
  } finally {
    await ctx.close();
  }
});
