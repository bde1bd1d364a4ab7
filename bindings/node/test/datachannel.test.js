'use strict';
/* DataChannel: message kinds, options, bounds and close, against the C peer
 * (strapto-cli peer --answer --echo) and between two Node peers. */
const test = require('node:test');
const assert = require('node:assert');
const strapto = require('strapto');
const { CliPeer, ADDRS, wire, collect, withTimeout, once } = require('./helpers');

async function connectToCli(ctx, cli, errors) {
  const peer = new strapto.Peer(ctx, { localAddresses: ADDRS });
  wire(peer, cli, errors);
  const dc = await peer.createDataChannel('strapto', { protocol: 'test-proto' });
  const opened = once(dc, 'open');
  cli.send({ type: 'offer', sdp: await peer.createOffer() });
  await withTimeout(opened, 15000, 'open (' + cli.stderr + ')');
  return { peer, dc };
}

test('DataChannel: strings, binary, empty and large messages round-trip', async () => {
  const ctx = new strapto.Context({ threads: 2 });
  const cli = new CliPeer(['--answer', '--echo']);
  const errors = [];
  try {
    const { peer, dc } = await connectToCli(ctx, cli, errors);
    assert.strictEqual(dc.readyState, 'open');
    assert.strictEqual(dc.label, 'strapto');
    assert.strictEqual(dc.protocol, 'test-proto');
    assert.strictEqual(dc.maxRetransmits, -1);
    const big = Buffer.alloc(Math.min(peer.maxMessageSize, 200000));
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const msgs = [
      'plain', 'ünïcödé ☃ 🚀', '', Buffer.alloc(0), new Uint8Array([9, 8, 7]),
      new Uint16Array([0x0102]).buffer, big, 'x'.repeat(60000),
    ];
    const echoes = collect(dc, msgs.length);
    for (const m of msgs) dc.send(m);
    const got = await withTimeout(echoes, 15000, 'echoes');
    assert.deepStrictEqual(got.slice(0, 3), [
      { data: 'plain', binary: false }, { data: 'ünïcödé ☃ 🚀', binary: false }, { data: '', binary: false },
    ]);
    assert.ok(Buffer.isBuffer(got[3].data) && got[3].data.length === 0 && got[3].binary);
    assert.deepStrictEqual([...got[4].data], [9, 8, 7]);
    assert.strictEqual(got[5].data.length, 2);
    assert.ok(got[6].data.equals(big));
    assert.strictEqual(got[7].data, 'x'.repeat(60000));
    assert.strictEqual(dc.bufferedAmount, 0);

    /* bounds */
    assert.throws(() => dc.send(Buffer.alloc(peer.maxMessageSize + 1)), (e) => e.code === 'STRAPTO_ETOOBIG');
    assert.throws(() => dc.send(42), TypeError);

    /* close: 'close' fires, sending is refused afterwards */
    const closed = once(dc, 'close');
    await dc.close();
    await withTimeout(closed, 10000, 'close');
    assert.strictEqual(dc.readyState, 'closed');
    assert.throws(() => dc.send('late'), (e) => e instanceof strapto.StraptoError);
    await peer.close();
    assert.deepStrictEqual(errors, []);
  } finally {
    await cli.stop();
    await ctx.close();
  }
});

test('DataChannel: two Node peers, options and negotiated channels', async () => {
  const ctx = new strapto.Context({ threads: 2 });
  try {
    const a = new strapto.Peer(ctx, { localAddresses: ADDRS, loop: 0 });
    const b = new strapto.Peer(ctx, { localAddresses: ADDRS, loop: 1 });
    a.on('candidate', (c) => { if (c) b.addRemoteCandidate(c).catch(() => {}); });
    b.on('candidate', (c) => { if (c) a.addRemoteCandidate(c).catch(() => {}); });
    const remote = new Promise((resolve) => b.on('datachannel', resolve));
    const unordered = await a.createDataChannel('lossy', { ordered: false, maxRetransmits: 0 });
    const negA = await a.createDataChannel('neg', { negotiated: true, id: 42 });
    const negB = await b.createDataChannel('neg', { negotiated: true, id: 42 });
    const opens = Promise.all([once(unordered, 'open'), once(negA, 'open'), once(negB, 'open')]);
    await b.setRemoteDescription('offer', await a.createOffer());
    await a.setRemoteDescription('answer', await b.createAnswer());
    await withTimeout(opens, 15000, 'open');
    const rdc = await withTimeout(remote, 15000, 'datachannel');
    assert.strictEqual(rdc.label, 'lossy');
    assert.strictEqual(rdc.ordered, false);
    assert.strictEqual(rdc.maxRetransmits, 0);
    assert.strictEqual(negA.id, 42);
    assert.strictEqual(negA.negotiated, true);

    const onB = collect(negB, 2);
    negA.send('a->b');
    negA.send(Buffer.from('bin'));
    const got = await withTimeout(onB, 10000, 'negotiated messages');
    assert.deepStrictEqual(got[0], { data: 'a->b', binary: false });
    assert.strictEqual(got[1].data.toString(), 'bin');

    /* reply from inside a message listener (a callback on a loop thread) */
    negB.on('message', (d) => negB.send('re:' + d));
    const reply = collect(negA, 1);
    negA.send('q');
    assert.deepStrictEqual(await withTimeout(reply, 10000, 'reply'), [{ data: 're:q', binary: false }]);

    /* closing the peer closes its channels */
    const bClosed = once(rdc, 'close');
    await a.close();
    await withTimeout(bClosed, 10000, 'remote close');
    await b.close();
  } finally {
    await ctx.close();
  }
});
