// libstrapto <-> headless Chromium data channel echo (acceptance 3).
//
// Two runs, each with a fresh strapto-cli peer and a fresh page:
//   chromium-offers: the page creates a channel and offers; strapto-cli --answer --echo
//   strapto-offers:  strapto-cli --offer --echo offers; the page answers and uses the
//                    channel strapto opened ('strapto')
// The page (test/browser/dc_echo.html) sends 1,000 messages, strings (with non-ASCII)
// and ArrayBuffers, 1 B..64 KiB plus one 262144-byte binary and one 262144-byte string,
// respecting bufferedAmount, and checks every echo is byte-exact, in order and of the
// right type. Then the page closes its RTCPeerConnection and strapto-cli must exit 0
// with echoed == 1000. Signaling is relayed between the page and strapto-cli's
// stdin/stdout (JSON lines). Chromium is Debian's /usr/bin/chromium driven by
// playwright-core (test/browser/package.json).
//
// Run inside the namespace test/run.sh makes (TEST_ONLY=chromium test/run.sh): Chromium
// skips loopback-flagged interfaces, so both peers use the veth address
// STRAPTO_VETH_ADDR (127.1.0.1). Environment: STRAPTO_CLI, STRAPTO_VETH_ADDR,
// CHROMIUM (default /usr/bin/chromium), STRAPTO_DC_SEED (message plan seed),
// STRAPTO_DC_MODES (comma list of the run names above), STRAPTO_DC_MESSAGES,
// STRAPTO_DC_CHROME_LOG=LEVEL (Chromium's stderr with --vmodule=*/webrtc/*=LEVEL to
// test/out/chromium_dc/chromium.log).
// strapto-cli's debug log goes to test/out/chromium_dc/<run>.strapto.log.
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
const OUT = path.join(ROOT, 'test', 'out', 'chromium_dc');
const SEED = Number(process.env.STRAPTO_DC_SEED || Math.floor(Math.random() * 0x7fffffff));
const COUNT = Number(process.env.STRAPTO_DC_MESSAGES || 1000);
const BIG = 262144;
const MODES = (process.env.STRAPTO_DC_MODES || 'chromium-offers,strapto-offers').split(',');
const TOTAL_TIMEOUT_MS = 85000;
const OPEN_TIMEOUT_MS = 10000; // page init; then ICE + DTLS + SCTP + channel open
const ECHO_TIMEOUT_MS = 20000; // from channel open to the last echo
const EXIT_TIMEOUT_MS = 8000;  // strapto-cli's exit after pc.close()
const T0 = Date.now();

function log(...a) {
    process.stderr.write(`[${((Date.now() - T0) / 1000).toFixed(3)}] ${a.join(' ')}\n`);
}

const started = []; // child processes we started: killed by PID on the way out
let browser = null;
let server = null;
let failures = [];
const CHROME_LOG = process.env.STRAPTO_DC_CHROME_LOG; // vmodule level for Chromium's WebRTC log

function killAll() {
    for (const p of started) {
        if (p.exitCode === null && p.signalCode === null) {
            log(`killing pid ${p.pid}`);
            try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
        }
    }
}

async function finish(code) {
    killAll();
    if (browser) {
        const b = browser; browser = null;
        await Promise.race([b.close().catch(() => {}), new Promise(r => setTimeout(r, 5000))]);
    }
    if (server) server.close();
    log(code === 0 ? 'PASS' : `FAIL (${failures.length} problem(s))`);
    for (const f of failures) log(`  - ${f}`);
    process.exit(code);
}

const watchdog = setTimeout(() => {
    failures.push(`whole test exceeded ${TOTAL_TIMEOUT_MS} ms`);
    finish(1);
}, TOTAL_TIMEOUT_MS);
process.on('SIGTERM', () => { failures.push('SIGTERM'); finish(1); });
process.on('SIGINT', () => { failures.push('SIGINT'); finish(1); });

function withTimeout(promise, ms, what) {
    let t;
    return Promise.race([
        promise.finally(() => clearTimeout(t)),
        new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms); }),
    ]);
}

function hasAddress(addr) {
    return Object.values(os.networkInterfaces()).flat().some(i => i && i.address === addr);
}

function serve() { // the page, on loopback (a secure context for getUserMedia)
    const page = fs.readFileSync(path.join(BROWSER_DIR, 'dc_echo.html'));
    return new Promise((res, rej) => {
        const s = http.createServer((req, resp) => {
            if (req.url === '/' || req.url === '/dc_echo.html') {
                resp.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
                resp.end(page);
            } else {
                resp.writeHead(req.url === '/favicon.ico' ? 204 : 404); resp.end();
            }
        });
        s.on('error', rej);
        s.listen(0, '127.0.0.1', () => res(s));
    });
}

function startCli(mode) {
    const args = ['peer', mode === 'chromium-offers' ? '--answer' : '--offer', '--echo',
                  '--local-address', ADDR, '--log-level', 'debug'];
    const logPath = path.join(OUT, `${mode}.strapto.log`);
    fs.mkdirSync(OUT, { recursive: true }); // again: a concurrent test/run.sh may have cleared test/out
    const errLog = fs.createWriteStream(logPath);
    errLog.on('error', e => log(`${mode}: cannot write ${logPath}: ${e.message}`));
    log(`${mode}: start ${CLI} ${args.join(' ')} (stderr -> ${path.relative(ROOT, logPath)})`);
    const p = spawn(CLI, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    started.push(p);
    // strapto's log lines, stamped with this driver's clock (same as the progress lines)
    readline.createInterface({ input: p.stderr }).on('line', line => {
        errLog.write(`[${((Date.now() - T0) / 1000).toFixed(3)}] ${line}\n`);
    }).on('close', () => errLog.end());
    p.stdin.on('error', () => {}); // EPIPE once it has exited
    const cli = {
        p, logPath, summary: null, stdoutLines: 0,
        held: [], // signaling lines read before the page is ready for them
        onSignal(m) { this.held.push(m); },
        deliverTo(fn) { const h = this.held; this.held = null; this.onSignal = fn; h.forEach(fn); },
        exited: new Promise(res => {
            p.on('exit', (code, sig) => {
                log(`${mode}: strapto-cli (pid ${p.pid}) exited with ${code ?? sig}`);
                res({ code, sig });
            });
            p.on('error', e => { // could not start it (no 'exit' follows)
                log(`${mode}: cannot run ${CLI}: ${e.message}`);
                res({ code: null, sig: `not started (${e.message})` });
            });
        }),
        send(msg) { if (p.stdin.writable) p.stdin.write(JSON.stringify(msg) + '\n'); },
    };
    readline.createInterface({ input: p.stdout }).on('line', line => {
        if (!line.trim()) return;
        cli.stdoutLines++;
        let m;
        try { m = JSON.parse(line); } catch { log(`${mode}: strapto non-JSON stdout: ${line.slice(0, 200)}`); return; }
        if (['offer', 'answer', 'candidate', 'end-of-candidates'].includes(m.type)) {
            if (m.type === 'candidate') log(`${mode}: strapto candidate ${m.candidate}`);
            else log(`${mode}: strapto -> page ${m.type}`);
            cli.onSignal(m);
        } else if (m.type === 'summary') {
            cli.summary = m;
            log(`${mode}: strapto summary ${line}`);
        } else {
            log(`${mode}: strapto stdout: ${line.slice(0, 200)}`);
        }
    });
    return cli;
}

// UDP counters of this network namespace (evidence for stalls: receive-buffer drops).
function udpCounters() {
    try {
        const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter(l => l.startsWith('Udp:'));
        const k = lines[0].split(/\s+/).slice(1), v = lines[1].split(/\s+/).slice(1).map(Number);
        return Object.fromEntries(k.map((x, i) => [x, v[i]]));
    } catch { return null; }
}

// Per-socket receive drops (/proc/net/udp 'drops'), to tell whose socket overflowed.
function udpSocketDrops() {
    try {
        return fs.readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1).filter(Boolean).map(l => {
            const f = l.trim().split(/\s+/);
            const [ip, port] = f[1].split(':');
            const a = Buffer.from(ip, 'hex').reverse().join('.');
            return { addr: `${a}:${parseInt(port, 16)}`, rxq: parseInt(f[4].split(':')[1], 16), drops: Number(f[12]) };
        }).filter(x => x.drops > 0).map(x => `${x.addr} drops ${x.drops}`).join(', ') || 'none';
    } catch { return 'n/a'; }
}

function udpDelta(a, b) {
    if (!a || !b) return 'n/a';
    return ['InDatagrams', 'OutDatagrams', 'RcvbufErrors', 'SndbufErrors', 'InErrors']
        .map(k => `${k} ${b[k] - a[k]}`).join(', ');
}

function tail(file, n) {
    try {
        const lines = fs.readFileSync(file, 'utf8').split('\n');
        return lines.slice(-n - 1).join('\n');
    } catch (e) { return `(cannot read ${file}: ${e.message})`; }
}

async function runMode(mode, url) {
    const t0 = Date.now();
    const problems = [];
    const context = await browser.newContext();
    await context.grantPermissions(['microphone']).catch(() => {});
    const page = await context.newPage();
    page.on('console', m => process.stderr.write(`    ${m.text()}\n`));
    page.on('pageerror', e => log(`${mode}: page error: ${e.message}`));
    const udp0 = udpCounters();
    const cli = startCli(mode);
    let signalErrors = 0;
    await page.exposeFunction('stSignal', msg => {
        if (msg.type !== 'candidate') log(`${mode}: page -> strapto ${msg.type}`);
        cli.send(msg);
    });
    // strapto-cli may speak before the page is ready: its lines are held until stInit() is done.
    const apply = m => {
        page.evaluate(msg => window.stRemote(msg), m).catch(e => {
            if (signalErrors++ < 5) problems.push(`applying strapto's ${m.type} in Chromium failed: ${e.message}`);
            log(`${mode}: applying strapto's ${m.type} failed: ${e.message}`);
            if (m.type === 'offer' || m.type === 'answer') log(`${mode}: the SDP was:\n${m.sdp}`);
        });
    };
    await page.goto(url);
    let result = null;
    try {
        await withTimeout(page.evaluate(r => window.stInit(r), mode === 'chromium-offers' ? 'offer' : 'answer'),
                          OPEN_TIMEOUT_MS, 'page init (getUserMedia, createOffer)');
        cli.deliverTo(apply);
        result = await withTimeout(page.evaluate(o => window.stRun(o), {
            seed: SEED, count: COUNT, bigSize: BIG, openTimeoutMs: OPEN_TIMEOUT_MS, echoTimeoutMs: ECHO_TIMEOUT_MS,
            expectLabel: mode === 'strapto-offers' ? 'strapto' : null,
            // strapto opened the channel: dodge Chromium's bufferedAmount bug (see dc_echo.html)
            firstAlone: mode === 'strapto-offers',
        }), OPEN_TIMEOUT_MS + ECHO_TIMEOUT_MS + 5000, 'echo run');
    } catch (e) {
        problems.push(e.message);
    }
    if (result) {
        log(`${mode}: channel '${result.label}' open after ${result.openSeconds.toFixed(3)} s, ` +
            `${result.received}/${result.count} echoes (${result.strings} strings, ${result.receivedBytes}/` +
            `${result.totalBytes} bytes) in ${result.echoSeconds.toFixed(3)} s, sctp.maxMessageSize ${result.maxMessageSize}`);
        for (const e of result.errors) problems.push(`page: ${e}`);
        if (result.received !== result.count) problems.push(`page got ${result.received} echoes, expected ${result.count}`);
    }
    const stats = await withTimeout(page.evaluate(() => window.stStats()), 5000, 'getStats').catch(e => [String(e)]);
    for (const s of stats) log(`${mode}: stats ${s}`);
    log(`${mode}: UDP sockets with receive drops: ${udpSocketDrops()}`);

    // The page closes its RTCPeerConnection: strapto-cli must notice and exit 0.
    const tClose = Date.now();
    await withTimeout(page.evaluate(() => window.stClose()), 5000, 'pc.close()').catch(e => problems.push(e.message));
    let ex;
    try {
        ex = await withTimeout(cli.exited, EXIT_TIMEOUT_MS, 'strapto-cli exit after the page closed');
        log(`${mode}: strapto-cli exited ${ex.code ?? ex.sig} ${Date.now() - tClose} ms after pc.close()`);
    } catch (e) {
        problems.push(e.message);
        log(`${mode}: strapto-cli still running ${EXIT_TIMEOUT_MS} ms after pc.close(); killing pid ${cli.p.pid}`);
        try { process.kill(cli.p.pid, 'SIGKILL'); } catch { /* gone */ }
        ex = await cli.exited;
    }
    await new Promise(r => setTimeout(r, 100)); // let the last stdout line be read
    if (ex.code !== 0) problems.push(`strapto-cli exit status ${ex.code ?? ex.sig}, expected 0`);
    if (!cli.summary) problems.push('strapto-cli printed no summary');
    else {
        if (cli.summary.echoed !== COUNT) problems.push(`strapto summary echoed ${cli.summary.echoed}, expected ${COUNT}`);
        if (cli.summary.messages_received !== COUNT)
            problems.push(`strapto summary messages_received ${cli.summary.messages_received}, expected ${COUNT}`);
        if (cli.summary.failed !== false) problems.push('strapto summary says failed');
    }
    await context.close().catch(() => {});
    log(`${mode}: UDP in this namespace: ${udpDelta(udp0, udpCounters())}`);
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (problems.length) {
        log(`${mode}: FAILED in ${secs} s`);
        for (const p of problems) log(`${mode}:   ${p}`);
        log(`${mode}: last lines of ${path.relative(ROOT, cli.logPath)}:\n${tail(cli.logPath, 40)}`);
        failures.push(...problems.map(p => `${mode}: ${p}`));
    } else {
        log(`${mode}: passed in ${secs} s`);
    }
}

async function main() {
    fs.mkdirSync(OUT, { recursive: true });
    let chromium;
    try {
        if (CHROME_LOG) { // playwright-core writes the browser's stderr there
            process.env.DEBUG = 'pw:browser';
            process.env.DEBUG_FILE = path.join(OUT, 'chromium.log');
        }
        const require = createRequire(path.join(BROWSER_DIR, 'package.json'));
        ({ chromium } = require('playwright-core'));
    } catch (e) {
        failures.push(`playwright-core is not installed in test/browser (make deps): ${e.message}`);
        return finish(1);
    }
    if (!fs.existsSync(CLI)) { failures.push(`${CLI} not built (make)`); return finish(1); }
    if (!fs.existsSync(CHROMIUM)) { failures.push(`${CHROMIUM} missing (apt-get install chromium)`); return finish(1); }
    if (!hasAddress(ADDR)) {
        failures.push(`no interface holds ${ADDR}: run inside test/run.sh's network namespace ` +
                      `(TEST_ONLY=chromium test/run.sh); Chromium does not gather on loopback-flagged interfaces`);
        return finish(1);
    }
    log(`seed ${SEED} (STRAPTO_DC_SEED to repeat), ${COUNT} messages, runs: ${MODES.join(", ")}; clock 0 = ${new Date(T0).toISOString()}`);
    server = await serve();
    const url = `http://127.0.0.1:${server.address().port}/dc_echo.html`;
    browser = await withTimeout(chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        chromiumSandbox: false,
        args: [
            ...(CHROME_LOG ? ['--enable-logging=stderr', `--vmodule=*/webrtc/*=${CHROME_LOG}`] : []),
            '--headless=new',
            '--no-sandbox',
            '--use-fake-ui-for-media-stream',
            '--use-fake-device-for-media-stream',
            // raw IP host candidates instead of mDNS names (this replaces playwright's own
            // --disable-features list, which only quiets background network use)
            '--disable-features=WebRtcHideLocalIpsWithMdns',
        ],
    }), 30000, 'launching Chromium');
    log(`Chromium ${browser.version()} up`);
    for (const mode of MODES) {
        if (!['chromium-offers', 'strapto-offers'].includes(mode)) {
            failures.push(`unknown run '${mode}'`);
            continue;
        }
        await runMode(mode, url);
    }
    clearTimeout(watchdog);
    return finish(failures.length ? 1 : 0);
}

main().catch(e => { failures.push(`driver error: ${e.stack || e}`); finish(1); });
