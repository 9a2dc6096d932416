// browser_test.js -- the dashboard in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core, which gives it a fresh
// profile directory of its own): the login form (wrong,
// then right password), tables filled, live updates without a reload
// (a new revision and a node turning unhealthy, triggered by signals to
// the test server), charts drawn, a screenshot, logout.
//
//   BASE=http://127.0.0.1:PORT PASSWORD=... SERVER_PID=... SHOT=out.png \
//     node browser_test.js
// Prints "skip: why" and exits 0 when chromium or playwright-core is missing.
'use strict';
const fs = require('fs');

const CHROMIUM = '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) { console.log('skip: ' + CHROMIUM + ' missing'); process.exit(0); }
let chromium;
try { ({ chromium } = require('playwright-core')); } catch (e) {
  console.log('skip: playwright-core missing'); process.exit(0);
}

const BASE = process.env.BASE, PASSWORD = process.env.PASSWORD;
const PID = Number(process.env.SERVER_PID);
const SHOT = process.env.SHOT || '/tmp/dashboard.png';

function step(msg) { console.log('ok ' + msg); }
function assert(c, msg) { if (!c) throw new Error('assertion failed: ' + msg); }

(async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  let failed = false;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));

    const resp = await page.goto(BASE + '/dashboard/');
    assert(resp.status() === 401, 'the dashboard answers 401 before login');
    await page.waitForSelector('form#login');
    step('login form shown');

    await page.fill('#password', 'wrong-password');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert(page.url().includes('login=failed'), 'failed login comes back with login=failed');
    assert(await page.isVisible('#err'), 'the error is visible');
    step('wrong password refused');

    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await page.waitForSelector('#nodes-body tr td b');
    const cookies = await page.context().cookies();
    const sess = cookies.find(c => c.name === 'traefikee_session');
    assert(sess && sess.httpOnly && sess.sameSite === 'Strict', 'HttpOnly SameSite=Strict session cookie');
    step('logged in');

    await page.waitForFunction(() => document.querySelectorAll('#nodes-body tr').length === 6);
    await page.waitForFunction(() => document.querySelectorAll('#routers-body tr[data-name]').length >= 5);
    await page.waitForFunction(() => document.querySelectorAll('#services-body .dot.up').length >= 2);
    await page.waitForFunction(() => document.querySelectorAll('#revisions-body tr').length >= 4);
    await page.waitForSelector('#live.on', { timeout: 5000 });
    step('tables filled, event stream live');

    // Live: a new revision, no reload.
    await page.evaluate(() => { window.__marker = 1; });
    const before = await page.textContent('#card-revision .big');
    process.kill(PID, 'SIGUSR1');
    await page.waitForFunction(b => document.querySelector('#card-revision .big').textContent !== b,
      before, { timeout: 3000 });
    const after = await page.textContent('#card-revision .big');
    assert(await page.evaluate(() => window.__marker === 1), 'no reload happened');
    step('revision card moved from ' + before + ' to ' + after + ' live');

    // Live: a data node turns unhealthy.
    process.kill(PID, 'SIGUSR2');
    await page.waitForFunction(() => [...document.querySelectorAll('#nodes-body tr')].some(
      tr => tr.textContent.includes('dn-1') && tr.textContent.includes('unhealthy')), null, { timeout: 3000 });
    await page.waitForFunction(() => document.querySelector('#card-data .big').textContent.startsWith('2 /'));
    step('dn-1 shown unhealthy live');

    // Charts: wait for a few samples, then check the canvases have ink.
    await page.waitForTimeout(3500);
    const ink = await page.evaluate(() => ['rps-chart', 'lat-chart', 'health-chart'].map(id => {
      const c = document.getElementById(id), g = c.getContext('2d');
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      return n;
    }));
    assert(ink.every(n => n > 500), 'charts drawn: ' + ink.join(','));
    const red = await page.evaluate(() => {
      const c = document.getElementById('health-chart'), g = c.getContext('2d');
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 90 && d[i + 2] < 90) n++;
      return n;
    });
    assert(red > 0, 'the health timeline shows the unhealthy node in red');
    step('charts drawn (ink ' + ink.join(', ') + '), unhealthy time in red');
    process.kill(PID, 'SIGUSR2'); // dn-1 back
    await page.waitForFunction(() => document.querySelector('#card-data .big').textContent.startsWith('3 /'),
      null, { timeout: 3000 });
    await page.waitForTimeout(1500);
    await page.screenshot({ path: SHOT, fullPage: true });
    step('screenshot ' + SHOT);

    await Promise.all([page.waitForNavigation(), page.click('button.link')]);
    await page.waitForSelector('form#login');
    const st = await page.evaluate(async () => (await fetch('/api/overview', { headers: { 'X-Requested-With': 'dashboard' } })).status);
    assert(st === 401, 'API refused after logout');
    step('logged out');
    assert(errors.length === 0, 'no page errors: ' + errors.join('; '));
  } catch (e) {
    console.log('FAIL ' + e.message);
    failed = true;
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
