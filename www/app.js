// StrapTo page: connects to the model stream server over WebRTC (POST /offer,
// one data channel labelled "strapto"), shows the model's output live and
// sends what is typed in the box as consumer_input events.
//
// Wire format, both ways: {"type": T, "data": {...}, "timestamp": ISO-8601}.
// The first message is a "replay" event holding the server's recent events.
// A token given as /?token=T is sent as a bearer token with the offer.
'use strict';

(() => {
  const MAX_BLOCKS = 400;        // output blocks kept on the page
  const MAX_BLOCK_CHARS = 20000; // a streaming block this long starts a new one
  const MAX_EVENTS = 200;        // rows in the event list
  const GATHER_TIMEOUT_MS = 3000;

  const $ = (id) => document.getElementById(id);
  const output = $('output');
  const statusEl = $('status');
  const modelEl = $('model');
  const form = $('input-form');
  const input = $('input');
  const sendBtn = $('send');
  const eventsEl = $('events');
  const eventCount = $('event-count');

  const token = new URLSearchParams(location.search).get('token');
  let pc = null;
  let dc = null;
  let stream = null;   // the block tokens are appended to
  let retryMs = 1000;
  let retryTimer = null;
  let generation = 0;  // bumps on every (re)connection
  let nEvents = 0;

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text || state;
    sendBtn.disabled = state !== 'connected';
  }

  function setModel(state, text) {
    modelEl.dataset.state = state;
    modelEl.textContent = 'model: ' + (text || state);
  }

  function trim() {
    while (output.childElementCount > MAX_BLOCKS) output.removeChild(output.firstElementChild);
  }

  function atBottom() {
    return output.scrollHeight - output.scrollTop - output.clientHeight < 40;
  }

  function addBlock(cls, text) {
    const follow = atBottom();
    const div = document.createElement('div');
    div.className = cls;
    div.textContent = text;
    output.appendChild(div);
    stream = null;
    trim();
    if (follow) output.scrollTop = output.scrollHeight;
    return div;
  }

  function appendStream(text) {
    const follow = atBottom();
    if (!stream || stream.textContent.length > MAX_BLOCK_CHARS) {
      stream = document.createElement('div');
      stream.className = 'stream';
      output.appendChild(stream);
      trim();
    }
    stream.append(text);
    if (follow) output.scrollTop = output.scrollHeight;
  }

  function logEvent(ev) {
    nEvents++;
    eventCount.textContent = String(nEvents);
    const li = document.createElement('li');
    const data = JSON.stringify(ev.data);
    li.textContent = `${ev.timestamp || ''} ${ev.type} ${data && data.length > 300 ? data.slice(0, 300) + '…' : data}`;
    eventsEl.appendChild(li);
    while (eventsEl.childElementCount > MAX_EVENTS) eventsEl.removeChild(eventsEl.firstElementChild);
  }

  function modelOutput(d) {
    if (d === null || typeof d !== 'object') {
      appendStream(String(d) + '\n');
    } else if (d.type === 'token' && typeof d.text === 'string') {
      appendStream(d.text);
    } else if (d.type === 'reply' && typeof d.text === 'string') {
      addBlock('reply', d.text);
    } else if (d.type === undefined && typeof d.text === 'string') {
      appendStream(d.text + '\n'); // a plain line of the model's output
    } else {
      addBlock('typed', `${d.type}: ${JSON.stringify(d)}`);
    }
  }

  function serverStatus(d) {
    if (!d || typeof d !== 'object' || !d.model) return;
    if (d.model === 'running') {
      setModel('running', 'running');
      if (d.restarts) addBlock('system', `model restarted (pid ${d.pid})`);
    } else if (d.model === 'exited') {
      const how = d.signal ? `killed by signal ${d.signal}` : `exited with status ${d.status}`;
      const next = d.restart_in_s !== undefined ? `; restarting in ${d.restart_in_s} s` : '';
      setModel(d.restart_in_s !== undefined ? 'restarting' : 'exited', d.restart_in_s !== undefined ? 'restarting' : 'exited');
      addBlock('system', `model ${how}${next}${d.error ? ' (' + d.error + ')' : ''}`);
    }
  }

  function handle(ev, replayed) {
    if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') return;
    if (!replayed) logEvent(ev);
    const d = ev.data;
    switch (ev.type) {
      case 'replay':
        if (d && Array.isArray(d.events)) for (const e of d.events) handle(e, true);
        break;
      case 'model_output': modelOutput(d); break;
      case 'consumer_input':
        if (d && typeof d.text === 'string') addBlock('input', '› ' + d.text);
        break;
      case 'server_status': serverStatus(d); break;
      case 'error': {
        const e = d && d.error ? d.error : d;
        addBlock('error', `error: ${e && e.code ? e.code + ': ' : ''}${e && e.message ? e.message : JSON.stringify(d)}`);
        break;
      }
      case 'events_dropped':
        addBlock('system', `${d && d.missed} events were dropped (this page fell behind)`);
        break;
      default: break; // in the event list only
    }
  }

  // The model's state now (later changes come as server_status events).
  async function refreshModel() {
    try {
      const resp = await fetch('status', { headers: token ? { Authorization: 'Bearer ' + token } : {} });
      if (!resp.ok) return;
      const st = await resp.json();
      if (st.model && typeof st.model.state === 'string') setModel(st.model.state, st.model.state);
    } catch (e) { /* the events will tell */ }
  }

  function cleanup() {
    if (dc) { dc.onopen = dc.onmessage = dc.onclose = null; try { dc.close(); } catch (e) { /* closed */ } }
    if (pc) { pc.onconnectionstatechange = null; try { pc.close(); } catch (e) { /* closed */ } }
    dc = null;
    pc = null;
  }

  function reconnect(why) {
    cleanup();
    if (retryTimer) return;
    setStatus('disconnected', `disconnected (${why}); retrying in ${Math.round(retryMs / 1000)} s`);
    retryTimer = setTimeout(() => { retryTimer = null; connect(); }, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  }

  function gathered(conn) {
    if (conn.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, GATHER_TIMEOUT_MS);
      conn.addEventListener('icegatheringstatechange', () => {
        if (conn.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
      });
    });
  }

  async function connect() {
    const gen = ++generation;
    setStatus('connecting', 'connecting…');
    const conn = new RTCPeerConnection({ iceServers: [] });
    const chan = conn.createDataChannel('strapto', { ordered: true });
    pc = conn;
    dc = chan;
    chan.onopen = () => {
      if (gen !== generation) return;
      retryMs = 1000;
      output.textContent = ''; // the replay brings the recent history back
      stream = null;
      setStatus('connected');
      refreshModel();
    };
    chan.onmessage = (m) => {
      if (typeof m.data !== 'string') return;
      let ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      handle(ev, false);
    };
    chan.onclose = () => { if (gen === generation) reconnect('channel closed'); };
    conn.onconnectionstatechange = () => {
      if (gen !== generation) return;
      if (conn.connectionState === 'failed' || conn.connectionState === 'closed') reconnect(conn.connectionState);
    };
    try {
      await conn.setLocalDescription(await conn.createOffer());
      await gathered(conn);
      if (gen !== generation) return;
      const headers = { 'Content-Type': 'application/json' };
      if (token) headers.Authorization = 'Bearer ' + token;
      const resp = await fetch('offer', {
        method: 'POST', headers, body: JSON.stringify({ type: 'offer', sdp: conn.localDescription.sdp }),
      });
      if (gen !== generation) return;
      if (resp.status === 401) {
        cleanup();
        setStatus('error', 'unauthorized: open this page as /?token=YOUR_TOKEN');
        return;
      }
      if (!resp.ok) {
        let msg = `HTTP ${resp.status}`;
        try { const j = await resp.json(); if (j.error) msg += ': ' + j.error.message; } catch (e) { /* not JSON */ }
        reconnect(msg);
        return;
      }
      const answer = await resp.json();
      await conn.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    } catch (e) {
      if (gen === generation) reconnect(e.message || String(e));
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim() || !dc || dc.readyState !== 'open') return;
    dc.send(JSON.stringify({ type: 'consumer_input', data: { text } }));
    input.value = '';
  });

  window.addEventListener('pagehide', cleanup);
  setModel('unknown', '?');
  connect();
})();
