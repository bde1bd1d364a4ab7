'use strict';
/* Shared test helpers (not a test file). */
const { spawn } = require('child_process');
const path = require('path');
const readline = require('readline');

const REPO = path.resolve(__dirname, '..', '..', '..');
const CLI = process.env.STRAPTO_CLI || path.join(REPO, 'build', 'strapto-cli');
const ADDRS = process.env.STRAPTO_ICE_ADDRESSES || '127.0.0.1';

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

function once(emitter, name) {
  return new Promise((resolve) => emitter.once(name, (...args) => resolve(args)));
}

/* A strapto-cli peer (the C peer) with JSON-lines signaling on stdio. */
class CliPeer {
  constructor(args) {
    this.proc = spawn(CLI, ['peer', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, STRAPTO_ICE_ADDRESSES: ADDRS },
    });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.lines = [];
    this.waiters = [];
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let msg;
      try { msg = JSON.parse(line); } catch (e) { return; }
      if (this.onSignal) this.onSignal(msg);
      else this.lines.push(msg);
    });
  }
  /* Route signaling messages to fn, those already received first. */
  route(fn) {
    const held = this.lines;
    this.lines = [];
    this.onSignal = fn;
    for (const m of held) fn(m);
  }
  send(msg) {
    if (this.proc.stdin.writable) this.proc.stdin.write(JSON.stringify(msg) + '\n');
  }
  async stop() {
    this.send({ type: 'bye' });
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGTERM'), 5000);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
}

/* Wire a binding Peer to a CliPeer: trickle both ways. */
function wire(peer, cli, errors) {
  peer.on('candidate', (c) => {
    if (c) cli.send({ type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
    else cli.send({ type: 'end-of-candidates' });
  });
  cli.route((m) => {
    let p = null;
    if (m.type === 'offer') {
      p = peer.setRemoteDescription('offer', m.sdp)
        .then(() => peer.createAnswer())
        .then((sdp) => cli.send({ type: 'answer', sdp }));
    } else if (m.type === 'answer') {
      p = peer.setRemoteDescription('answer', m.sdp);
    } else if (m.type === 'candidate') {
      p = peer.addRemoteCandidate(m.candidate, m.sdpMid);
    } else if (m.type === 'end-of-candidates') {
      p = peer.addRemoteCandidate(null);
    }
    if (p) p.catch((e) => errors.push(e));
  });
}

/* Collect `n` messages from a channel. */
function collect(dc, n) {
  return new Promise((resolve) => {
    const got = [];
    const on = (data, binary) => {
      got.push({ data, binary });
      if (got.length === n) { dc.off('message', on); resolve(got); }
    };
    dc.on('message', on);
  });
}

module.exports = { CLI, ADDRS, REPO, CliPeer, wire, collect, withTimeout, once };

/* A minimal WebSocket client (text frames) for the hub tests: Node 20 has
 * no global WebSocket. Emits 'message' (string) and 'close'. */
const http = require('http');
const crypto = require('crypto');
const EventEmitter = require('events');

function wsConnect(port, pathname, headers = {}) {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString('base64');
    const req = http.request({
      host: '127.0.0.1', port, path: pathname,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, ...headers },
    });
    req.on('upgrade', (res, sock, head) => {
      const ws = new EventEmitter();
      let buf = Buffer.alloc(0);
      const onData = (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          if (buf.length < 2) return;
          const op = buf[0] & 0x0f;
          let len = buf[1] & 0x7f;
          let off = 2;
          if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
          else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
          if (buf.length < off + len) return;
          const payload = buf.subarray(off, off + len);
          buf = buf.subarray(off + len);
          if (op === 1) ws.emit('message', payload.toString('utf8'));
          else if (op === 8) sock.end();
        }
      };
      sock.on('data', onData);
      /* frames that came with the upgrade response: after the caller's await */
      if (head && head.length) setImmediate(() => onData(head));
      sock.on('close', () => ws.emit('close'));
      ws.send = (text) => {
        const data = Buffer.from(text, 'utf8');
        const mask = crypto.randomBytes(4);
        let hdr;
        if (data.length < 126) hdr = Buffer.from([0x81, 0x80 | data.length]);
        else { hdr = Buffer.alloc(4); hdr[0] = 0x81; hdr[1] = 0x80 | 126; hdr.writeUInt16BE(data.length, 2); }
        const masked = Buffer.from(data.map((b, i) => b ^ mask[i % 4]));
        sock.write(Buffer.concat([hdr, mask, masked]));
      };
      ws.close = () => sock.destroy();
      resolve(ws);
    });
    req.on('response', (res) => reject(new Error(`HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/* Wait for the next WebSocket message whose parsed JSON satisfies pred. */
function nextMessage(ws, pred = () => true) {
  return new Promise((resolve) => {
    const on = (text) => {
      const m = JSON.parse(text);
      if (pred(m)) { ws.off('message', on); resolve(m); }
    };
    ws.on('message', on);
  });
}

function httpGet(port, pathname) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: pathname }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

module.exports.wsConnect = wsConnect;
module.exports.nextMessage = nextMessage;
module.exports.httpGet = httpGet;
