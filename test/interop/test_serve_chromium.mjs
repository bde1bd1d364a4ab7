// strapto-cli serve, acceptance 1: headless Chromium opens the page at / , shows the
// demo model's output within 2 s, sends an input through the page's box and sees the
// model's reply; a screenshot is taken and checked to hold text.
//
// The server runs with the built-in demo model and a token, on the veth address
// STRAPTO_VETH_ADDR (127.1.0.1; Chromium skips loopback-flagged interfaces) with
// --local-address on the same address. The page is opened as /?token=T: the page itself
// needs the token, its script and style come with the cookie it sets, and it sends the
// token as a bearer header with its offer. Chromium needs a media permission to gather
// ICE candidates in the test's network namespace, so an init script asks for the fake
// microphone before the page's first createOffer (the page itself never asks).
// Checks: the first demo token shows in #output within 2 s of navigation; the status pill
// says "connected"; the input typed in #input comes back as a .reply block quoting it and
// as a "› text" input block; the screenshot (test/out/serve_chromium/page.png) is
// non-uniform with enough dark "ink" pixels in the output area, and #output's text is
// non-trivial; after the page closes the server drops the client; SIGTERM stops the
// server with exit status 0.
// Environment: STRAPTO_CLI, STRAPTO_VETH_ADDR, CHROMIUM (default /usr/bin/chromium).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BROWSER_DIR = path.join(ROOT, 'test', 'browser');
const CLI = process.env.STRAPTO_CLI || path.join(ROOT, 'build', 'strapto-cli');
const ADDR = process.env.STRAPTO_VETH_ADDR || '127.1.0.1';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(ROOT, 'test', 'out', 'serve_chromium');
const TOKEN = 'page-token-7';
const TOTAL_TIMEOUT_MS = 90000;
const FIRST_OUTPUT_MS = 2000;
const T0 = Date.now();

function log(...a) {
    process.stderr.write(`[${((Date.now() - T0) / 1000).toFixed(3)}] ${a.join(' ')}\n`);
}

const failures = [];
let browser = null;
let server = null;

function check(cond, what) {
    log(`${cond ? 'ok' : 'FAIL'}: ${what}`);
    if (!cond) failures.push(what);
    return cond;
}

async function finish(code) {
    if (server && server.p.exitCode === null && server.p.signalCode === null) {
        try { process.kill(server.p.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    if (browser) {
        const b = browser; browser = null;
        await Promise.race([b.close().catch(() => {}), new Promise(r => setTimeout(r, 5000))]);
    }
    log(code === 0 && !failures.length ? 'PASS' : `FAIL (${failures.length} problem(s))`);
    for (const f of failures) log(`  - ${f}`);
    if (failures.length && server) {
        try { log('server log tail:\n' + fs.readFileSync(server.logPath, 'utf8').split('\n').slice(-40).join('\n')); } catch { /* none */ }
    }
    process.exit(code === 0 && !failures.length ? 0 : 1);
}

const watchdog = setTimeout(() => { failures.push(`whole test exceeded ${TOTAL_TIMEOUT_MS} ms`); finish(1); },
                            TOTAL_TIMEOUT_MS);
process.on('SIGTERM', () => { failures.push('SIGTERM'); finish(1); });

function withTimeout(promise, ms, what) {
    let t;
    return Promise.race([
        promise.finally(() => clearTimeout(t)),
        new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms); }),
    ]);
}

function startServer() {
    const logPath = path.join(OUT, 'server.log');
    const errFd = fs.openSync(logPath, 'w');
    const args = ['serve', '--listen', `${ADDR}:0`, '--local-address', ADDR, '--token', TOKEN, '--log-level', 'info'];
    log(`start ${CLI} ${args.join(' ')}`);
    const p = spawn(CLI, args, { stdio: ['ignore', 'pipe', errFd] });
    fs.closeSync(errFd);
    const s = { p, logPath, exited: new Promise(res => p.on('exit', (code, sig) => res({ code, sig }))) };
    s.listening = new Promise((res, rej) => {
        readline.createInterface({ input: p.stdout }).on('line', line => {
            try {
                const m = JSON.parse(line);
                if (m.type === 'listening') res(m);
            } catch { /* not JSON */ }
        });
        p.on('exit', () => rej(new Error('the server exited before listening')));
    });
    return s;
}

function getJson(url) {
    return new Promise((res, rej) => {
        http.get(url, { headers: { Authorization: `Bearer ${TOKEN}` } }, r => {
            let d = '';
            r.on('data', c => { d += c; });
            r.on('end', () => { try { res(JSON.parse(d)); } catch (e) { rej(e); } });
        }).on('error', rej);
    });
}

function hasAddress(addr) {
    return Object.values(os.networkInterfaces()).flat().some(i => i && i.address === addr);
}

async function main() {
    fs.mkdirSync(OUT, { recursive: true });
    let chromium;
    try {
        const require = createRequire(path.join(BROWSER_DIR, 'package.json'));
        ({ chromium } = require('playwright-core'));
    } catch (e) {
        failures.push(`playwright-core is not installed in test/browser (make deps): ${e.message}`);
        return finish(1);
    }
    if (!fs.existsSync(CLI)) { failures.push(`${CLI} not built (make)`); return finish(1); }
    if (!hasAddress(ADDR)) {
        failures.push(`no interface holds ${ADDR}: run inside test/run.sh's network namespace (TEST_ONLY=serve_chromium test/run.sh)`);
        return finish(1);
    }
    server = startServer();
    const listening = await withTimeout(server.listening, 10000, 'server start');
    const base = listening.url.replace(/\/$/, '');
    log(`server at ${listening.url}`);

    browser = await withTimeout(chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        chromiumSandbox: false,
        args: ['--headless=new', '--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
               '--disable-features=WebRtcHideLocalIpsWithMdns'],
    }), 30000, 'launching Chromium');
    log(`Chromium ${browser.version()} up`);
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    await context.grantPermissions(['microphone']).catch(() => {});
    // ICE in the namespace needs a media permission first (see the top comment)
    await context.addInitScript(() => {
        const orig = RTCPeerConnection.prototype.createOffer;
        let gum = null;
        RTCPeerConnection.prototype.createOffer = async function (...a) {
            if (!gum) gum = navigator.mediaDevices.getUserMedia({ audio: true }).catch(e => console.log('gUM: ' + e));
            await gum;
            return orig.apply(this, a);
        };
    });
    const page = await context.newPage();
    page.on('console', m => process.stderr.write(`    page: ${m.text()}\n`));
    page.on('pageerror', e => failures.push(`page error: ${e.message}`));

    const tNav = Date.now();
    const resp = await page.goto(`${base}/?token=${TOKEN}`);
    check(resp && resp.status() === 200, `GET /?token=T -> ${resp && resp.status()}`);
    let firstMs = null;
    try {
        await page.waitForFunction(() => {
            const s = document.querySelector('#output .stream');
            return s && s.textContent.trim().length > 0;
        }, null, { timeout: 10000, polling: 20 });
        firstMs = Date.now() - tNav;
    } catch (e) {
        failures.push(`no demo output in #output: ${e.message}`);
    }
    check(firstMs !== null && firstMs <= FIRST_OUTPUT_MS, `demo model output shown ${firstMs} ms after navigation (bound ${FIRST_OUTPUT_MS} ms)`);
    const state = await page.$eval('#status', e => e.dataset.state);
    check(state === 'connected', `status pill says ${state}`);
    const st1 = await getJson(`${base}/status`);
    check(st1.clients.webrtc === 1, `/status: one WebRTC client (${JSON.stringify(st1.clients)})`);

    const text = 'Hello from Chromium, ünïcödé ✓';
    const tSend = Date.now();
    await page.fill('#input', text);
    await page.click('#send');
    try {
        await page.waitForFunction(t => [...document.querySelectorAll('#output .reply')].some(e => e.textContent.includes(t)),
                                   text, { timeout: 5000, polling: 20 });
        check(true, `the model's reply quoting the input shown ${Date.now() - tSend} ms after Send`);
    } catch (e) {
        check(false, `no reply quoting the input: ${e.message}`);
    }
    const replyText = await page.$$eval('#output .reply', els => els.map(e => e.textContent));
    check(replyText.some(t => t === `You said: ${text}`), `reply text: ${JSON.stringify(replyText)}`);
    const inputs = await page.$$eval('#output .input', els => els.map(e => e.textContent));
    check(inputs.includes(`› ${text}`), `the input shows as sent (${JSON.stringify(inputs)})`);
    check(await page.$eval('#input', e => e.value) === '', 'the box is cleared after Send');

    await page.waitForTimeout(700); // a few more tokens
    const outText = await page.$eval('#output', e => e.innerText);
    check(outText.length > 60 && /StrapTo demo|word|model/.test(outText), `#output holds ${outText.length} characters of text`);
    const shot = path.join(OUT, 'page.png');
    const png = await page.screenshot({ path: shot });
    const box = await page.$eval('#output', e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; });
    // decode the screenshot in the page itself and measure the output area
    const px = await page.evaluate(async ([b64, b]) => {
        const img = new Image();
        img.src = 'data:image/png;base64,' + b64;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.width; c.height = img.height;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const all = g.getImageData(0, 0, c.width, c.height).data;
        const colors = new Set();
        for (let i = 0; i < all.length; i += 4 * 7) colors.add((all[i] << 16) | (all[i + 1] << 8) | all[i + 2]);
        const o = g.getImageData(Math.round(b[0]), Math.round(b[1]), Math.round(b[2]), Math.round(b[3])).data;
        const hist = new Map(); // the background is the most frequent colour of the area
        for (let i = 0; i < o.length; i += 4) {
            const k = (o[i] << 16) | (o[i + 1] << 8) | o[i + 2];
            hist.set(k, (hist.get(k) || 0) + 1);
        }
        const top = [...hist.entries()].sort((x, y) => y[1] - x[1])[0][0];
        const bg = [top >> 16, (top >> 8) & 255, top & 255];
        let ink = 0;
        for (let i = 0; i < o.length; i += 4) {
            const d = Math.abs(o[i] - bg[0]) + Math.abs(o[i + 1] - bg[1]) + Math.abs(o[i + 2] - bg[2]);
            if (d > 96) ink++;
        }
        return { width: img.width, height: img.height, colors: colors.size, ink, area: o.length / 4 };
    }, [png.toString('base64'), box]);
    log(`screenshot ${shot}: ${px.width}x${px.height}, ${px.colors} colours sampled, ${px.ink} ink pixels of ${px.area} in #output`);
    check(px.colors > 10, `the screenshot is not uniform (${px.colors} colours)`);
    check(px.ink > 1500 && px.ink < px.area * 0.5, `the output area holds text-like ink (${px.ink} pixels)`);

    await context.close();
    let left = null;
    for (let i = 0; i < 50; i++) {
        const st = await getJson(`${base}/status`);
        left = st.clients.webrtc;
        if (left === 0) break;
        await new Promise(r => setTimeout(r, 100));
    }
    check(left === 0, `the server dropped the client after the page closed (${left} left)`);
    process.kill(server.p.pid, 'SIGTERM');
    const ex = await withTimeout(server.exited, 10000, 'server exit');
    check(ex.code === 0, `server exit status ${ex.code ?? ex.sig}`);
    clearTimeout(watchdog);
    return finish(0);
}

main().catch(e => { failures.push(`driver error: ${e.stack || e}`); finish(1); });
