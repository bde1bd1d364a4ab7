'use strict';
/* Peer: a Node peer against a C peer (strapto-cli peer --echo). */
const test = require('node:test');
const assert = require('node:assert');
const strapto = require('strapto');
const { CliPeer, ADDRS, wire, collect, withTimeout, once } = require('./helpers');

test('Peer: Node offers, C peer answers and echoes', async () => {
  const ctx = new strapto.Context({ threads: 2 });
  const cli = new CliPeer(['--answer', '--echo']);
  const errors = [];
  try {
    const peer = new strapto.Peer(ctx, { localAddresses: ADDRS });
    const states = [];
    peer.on('state', (s) => states.push(s));
    const connected = new Promise((resolve) => peer.on('state', (s) => { if (s === 'connected') resolve(); }));
    const gathered = once(peer, 'gatheringcomplete');
    wire(peer, cli, errors);
    const dc = await peer.createDataChannel('strapto');
    assert.ok(dc instanceof strapto.DataChannel);
    const opened = once(dc, 'open');
    const offer = await peer.createOffer();
    assert.match(offer, /^v=0/);
    assert.match(offer, /webrtc-datachannel/);
    cli.send({ type: 'offer', sdp: offer });
    await withTimeout(Promise.all([connected, opened, gathered]), 15000, 'connect (' + cli.stderr + ')');
    assert.strictEqual(peer.state, 'connected');
    assert.ok(states.includes('connecting'));
    assert.ok(peer.maxMessageSize > 0);
    assert.match(await peer.localDescription(), /a=candidate:/);

    const echoes = collect(dc, 2);
    dc.send('hello from node');
    dc.send(Buffer.from([0, 1, 2, 255]));
    const got = await withTimeout(echoes, 10000, 'echo');
    assert.deepStrictEqual(got[0], { data: 'hello from node', binary: false });
    assert.ok(Buffer.isBuffer(got[1].data));
    assert.deepStrictEqual([...got[1].data], [0, 1, 2, 255]);
    assert.strictEqual(got[1].binary, true);

    const closed = once(dc, 'close');
    await peer.close();
    assert.strictEqual(peer.state, 'closed');
    assert.deepStrictEqual(errors, []);
    void closed;
  } finally {
    await cli.stop();
    await ctx.close();
  }
});

test('Peer: C peer offers a channel, Node answers (datachannel event)', async () => {
  const ctx = new strapto.Context({ threads: 2 });
  const cli = new CliPeer(['--offer', '--echo', '--label', 'from-c']);
  const errors = [];
  try {
    const peer = new strapto.Peer(ctx, { localAddresses: [ADDRS] });
    const incoming = new Promise((resolve) => peer.on('datachannel', (dc) => {
      /* the channel's first messages are seen by listeners attached here */
      dc.once('open', () => resolve(dc));
      if (dc.readyState === 'open') resolve(dc);
    }));
    wire(peer, cli, errors);
    const dc = await withTimeout(incoming, 15000, 'datachannel (' + cli.stderr + ')');
    assert.strictEqual(dc.label, 'from-c');
    assert.strictEqual(dc.ordered, true);
    assert.strictEqual(dc.negotiated, false);
    assert.ok(dc.id >= 0);
    const echo = collect(dc, 1);
    dc.send('ping');
    assert.deepStrictEqual(await withTimeout(echo, 10000, 'echo'), [{ data: 'ping', binary: false }]);
    await peer.close();
    assert.deepStrictEqual(errors, []);
  } finally {
    await cli.stop();
    await ctx.close();
  }
});

test('Peer: errors from bad signaling', async () => {
  const ctx = new strapto.Context({ threads: 1 });
  try {
    const peer = new strapto.Peer(ctx, { localAddresses: ADDRS });
    await assert.rejects(peer.setRemoteDescription('answer', 'not sdp'), (e) => e instanceof strapto.StraptoError);
    await assert.rejects(peer.createAnswer(), (e) => e instanceof strapto.StraptoError);
    await peer.close();
    await assert.rejects(peer.createOffer(), (e) => e.code === 'STRAPTO_ECLOSED');
  } finally {
    await ctx.close();
  }
});
