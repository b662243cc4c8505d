'use strict';
// run.js: drive webphone pages (examples/webphone/) in headless Debian chromium through a list of
// steps, for spec/browser_spec.lua. One argument, a JSON object:
//   { "steps": [ STEP... ], "spki": "BASE64" (optional: a certificate the browser trusts, WSS),
//     "timeout": 30 (seconds per wait, default 30) }
// STEP is one of
//   { "page": "a", "do": "start", "args": [{ "server": "ws://...", "uri": "sip:...", "password": "..." }] }
//   { "page": "a", "do": "call" | "answer" | "hangup" | "message" | "stop", "args": [...] }
//   { "page": "a", "wait": { "type": "pc", "state": "connected" } }   an event with these fields
//   { "page": "a", "fill": { "id": "server", "value": "ws://..." } }  types into input #id
//   { "page": "a", "click": "register" }                             clicks button #id
//   { "say": "TEXT" }                                                 prints "say TEXT" (a cue)
// A page opens at its first step. The browser reaches the page server and the servers named by
// start steps (or typed into #server) on 127.0.0.1, nothing else (chromium-loopback.sh). A wait
// fails at once on a failure event of that page (registrationFailed, failed, sendFailed) unless
// it waits for that very type.
// Prints one line per step ("ok ..." or "FAIL ..."), then each page's events; exits 0 when every
// step passed, 1 when one failed, 2 on misuse.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');
const { outside } = require('./bridge');
const { serve } = require('./serve');

const FAILURES = ['registrationFailed', 'failed', 'sendFailed'];

function parseArgs() {
  try {
    const o = JSON.parse(process.argv[2]);
    if (!Array.isArray(o.steps)) throw new Error('no steps');
    return o;
  } catch (e) {
    console.error(`run.js: one JSON argument with "steps" expected (${e.message})`);
    process.exit(2);
  }
}

async function waitEvent(page, want, seconds) {
  const unless = FAILURES.filter((t) => t !== want.type);
  const handle = await page.waitForFunction(
    ([w, u]) => {
      const evs = window.webphone.events;
      const hit = evs.find((e) => Object.keys(w).every((k) => e[k] === w[k]));
      if (hit) return { hit };
      const bad = evs.find((e) => u.includes(e.type));
      return bad ? { bad } : false;
    },
    [want, unless],
    { timeout: seconds * 1000, polling: 50 },
  );
  const r = await handle.jsonValue();
  if (r.bad) throw new Error(`${JSON.stringify(r.bad)} while waiting`);
  return r.hit;
}

// Stop a page's phone and wait for its un-REGISTER to be answered, if it was registered.
async function unregister(page) {
  const registered = await page
    .evaluate(() => window.webphone.ua !== null && window.webphone.ua.isRegistered())
    .catch(() => false);
  if (!registered) return;
  await page.evaluate(() => window.webphone.stop()).catch(() => {});
  await page
    .waitForFunction(() => window.webphone.events.some((e) => e.type === 'unregistered'), null, { timeout: 3000 })
    .catch(() => {});
}

async function main() {
  const o = parseArgs();
  const seconds = o.timeout || 30;
  const args = [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    // lo is all the browser's namespace has (chromium-loopback.sh): ICE over 127.0.0.1
    '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ];
  if (o.spki) args.push(`--ignore-certificate-errors-spki-list=${o.spki}`);
  const server = await serve({ port: 0 });
  // the ports the pages reach: this page server and every server a start step names
  const ports = new Set([server.port]);
  for (const s of o.steps) {
    const url = s.do === 'start' ? s.args[0].server : s.fill && s.fill.id === 'server' ? s.fill.value : null;
    if (url) ports.add(Number(new URL(url).port));
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lua-sip-browser.'));
  const bridge = outside(dir, [...ports]);
  const browser = await chromium.launch({
    executablePath: path.join(__dirname, 'chromium-loopback.sh'),
    args,
    env: { ...process.env, BRIDGE_DIR: dir, BRIDGE_PORTS: [...ports].join(' ') },
  });
  const pages = {};
  let failed = false;
  const openPage = async (name) => {
    if (pages[name]) return pages[name];
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') console.log(`${name} console: ${m.text()}`);
    });
    page.on('pageerror', (e) => console.log(`${name} pageerror: ${e.message}`));
    await page.goto(server.url);
    pages[name] = page;
    return page;
  };
  try {
    for (const step of o.steps) {
      const t0 = Date.now();
      const verb = step.do || (step.wait && 'wait') || (step.fill && 'fill') || (step.click && 'click');
      const what = step.say
        ? `say ${step.say}`
        : `${step.page} ${verb} ${JSON.stringify(step.args || step.wait || step.fill || step.click)}`;
      try {
        if (step.say) {
          console.log(what);
          continue;
        }
        const page = await openPage(step.page);
        if (step.wait) {
          const ev = await waitEvent(page, step.wait, seconds);
          console.log(`ok ${what} -> ${JSON.stringify(ev)} (${Date.now() - t0} ms)`);
        } else if (step.fill) {
          await page.fill(`#${step.fill.id}`, step.fill.value);
          console.log(`ok ${what}`);
        } else if (step.click) {
          await page.click(`#${step.click}`);
          console.log(`ok ${what}`);
        } else {
          await page.evaluate(([fn, a]) => window.webphone[fn](...a), [step.do, step.args || []]);
          console.log(`ok ${what}`);
        }
      } catch (e) {
        console.log(`FAIL ${what}: ${e.message.split('\n')[0]}`);
        failed = true;
        break;
      }
    }
    // every page unregisters (3 s at most), so no binding outlives its connection at the server
    await Promise.all(Object.values(pages).map((page) => unregister(page)));
    for (const [name, page] of Object.entries(pages)) {
      const evs = await page.evaluate(() => window.webphone.events).catch(() => []);
      for (const e of evs) console.log(`${name} event ${JSON.stringify(e)}`);
    }
  } finally {
    await browser.close().catch(() => {});
    bridge.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`FAIL run.js: ${e.stack || e}`);
    process.exit(1);
  },
);
