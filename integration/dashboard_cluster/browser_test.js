// browser_test.js -- the dashboard of a real local cluster (traefikeectl
// install --local) in headless Chromium (Debian's /usr/bin/chromium driven
// by playwright-core, resolved from ../dashboard/node_modules): log in with
// the printed password, see every node of cluster.json by name with its
// role and health and every router of the API in the page; kill -9 a data
// node (its pid from cluster.json, only if that pid still runs the recorded
// program) and see it turn unhealthy without a reload; restart it from its
// recorded argv (integration/ha/cluster.py, which writes the new pid back)
// and see it healthy again. A full-page and a nodes-panel screenshot at
// each of the three steps.
//
//   BASE=http://127.0.0.1:P PASSWORD=... CLUSTER_JSON=DIR/cluster.json \
//   CLUSTER_PY=integration/ha/cluster.py VICTIM=data-1 ROUTERS=a,b \
//   SHOTS=DIR node browser_test.js
//
// Prints "ok STEP" lines (with timings), "FAIL why" and exits 1 on the
// first failure; "skip: why" and exit 0 when chromium or playwright-core
// is missing.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const CHROMIUM = '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) { console.log('skip: ' + CHROMIUM + ' missing'); process.exit(0); }
let chromium;
try {
  ({ chromium } = require(require.resolve('playwright-core',
    { paths: [__dirname, path.join(__dirname, '..', 'dashboard')] })));
} catch (e) {
  console.log('skip: playwright-core missing (npm ci in integration/dashboard)');
  process.exit(0);
}

const BASE = process.env.BASE, PASSWORD = process.env.PASSWORD;
const CJ = process.env.CLUSTER_JSON, CLUSTER_PY = process.env.CLUSTER_PY;
const VICTIM = process.env.VICTIM || 'data-1';
const ROUTERS = (process.env.ROUTERS || '').split(',').filter(Boolean);
const SHOTS = process.env.SHOTS || '/tmp';
const DOWN_MS = Number(process.env.DOWN_MS || 15000);
const UP_MS = Number(process.env.UP_MS || 20000);

function step(msg) { console.log('ok ' + msg); }
function assert(c, msg) { if (!c) throw new Error(msg); }
function cluster() { return JSON.parse(fs.readFileSync(CJ, 'utf8')); }
function proc(name) { return cluster().processes.find(p => p.name === name); }
const AUTH = { Authorization: 'Basic ' + Buffer.from('admin:' + PASSWORD).toString('base64') };
async function apiGet(p) {
  const r = await fetch(BASE + p, { headers: AUTH });
  assert(r.ok, p + ' answered ' + r.status);
  return r.json();
}

// 1 if /proc/PID/cmdline starts with ARGV0: the pid still runs the
// recorded program (never signal a recycled pid).
function runs(pid, argv0) {
  try {
    const cmd = fs.readFileSync('/proc/' + pid + '/cmdline', 'latin1');
    return cmd === argv0 || cmd.startsWith(argv0 + '\0');
  } catch (e) { return false; }
}

// The page's view of the nodes table: name -> {role, health, leader, down, revision}.
function nodeRows(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#nodes-body tr')]
    .filter(tr => tr.querySelector('td b'))
    .map(tr => {
      const td = tr.querySelectorAll('td');
      return [td[0].querySelector('b').textContent, {
        role: td[1].textContent.trim(),
        health: td[2].textContent.trim(),
        leader: !!td[0].querySelector('.pill.leader'),
        down: tr.classList.contains('down'),
        revision: td[4].textContent.trim(),
      }];
    })));
}

// Waits until VICTIM's row says <health> ("healthy" / "unhealthy");
// returns the milliseconds it took from <t0>.
async function waitHealth(page, health, t0, timeout) {
  await page.waitForFunction(([name, h]) => [...document.querySelectorAll('#nodes-body tr')].some(tr => {
    const b = tr.querySelector('td b');
    const pill = tr.querySelectorAll('td')[2];
    return b && b.textContent === name && pill && pill.textContent.trim() === h &&
      tr.classList.contains('down') === (h === 'unhealthy');
  }), [VICTIM, health], { timeout, polling: 100 });
  return Date.now() - t0;
}

async function shots(page, tag) {
  const full = path.join(SHOTS, tag + '.png');
  const nodes = path.join(SHOTS, tag + '-nodes.png');
  await page.screenshot({ path: full, fullPage: true });
  await page.locator('#nodes').screenshot({ path: nodes });
  step('screenshots ' + full + ' ' + nodes);
}

async function login(page) {
  const resp = await page.goto(BASE + '/dashboard/');
  assert(resp.status() === 401, 'the dashboard answers 401 before login (got ' + resp.status() + ')');
  await page.waitForSelector('form#login');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  assert(!page.url().includes('login=failed'), 'the printed password was refused');
  await page.waitForSelector('#nodes-body tr td b');
  await page.waitForSelector('#live.on', { timeout: 5000 });
  step('logged in with the printed password, event stream live');
}

async function seeCluster(page) {
  const procs = cluster().processes.filter(p => p.role === 'control' || p.role === 'data');
  const api = await apiGet('/api/nodes');
  await page.waitForFunction(n => document.querySelectorAll('#nodes-body tr td b').length === n,
    procs.length, { timeout: 5000 });
  // every node healthy (a fresh page may still show a stale sample)
  await page.waitForFunction(() => ![...document.querySelectorAll('#nodes-body tr')].some(tr => tr.classList.contains('down')),
    null, { timeout: 5000 });
  const rows = await nodeRows(page);
  for (const p of procs) {
    const r = rows[p.name];
    assert(r, 'node ' + p.name + ' is not in the page (rows: ' + Object.keys(rows).join(', ') + ')');
    assert(r.role === p.role, p.name + ' shown with role ' + r.role);
    assert(r.health === 'healthy' && !r.down, p.name + ' shown ' + r.health);
    const a = api.find(n => n.name === p.name);
    assert(a && r.leader === !!a.leader, p.name + ': leader pill disagrees with /api/nodes');
    if (p.role === 'data') assert(/^#\d+$/.test(r.revision), p.name + ' shows no revision: ' + r.revision);
  }
  assert(Object.values(rows).filter(r => r.leader).length === 1, 'exactly one leader pill');
  step('every node in the page: ' + procs.map(p => p.name + ' (' + p.role + (rows[p.name].leader ? ', leader' : '') + ')').join(', '));

  const names = (await apiGet('/api/http/routers')).map(r => r.name);
  for (const want of ROUTERS) assert(names.includes(want + '@file') || names.includes(want), 'router ' + want + ' missing from /api/http/routers');
  await page.waitForFunction(n => document.querySelectorAll('#routers-body tr[data-name]').length === n,
    names.length, { timeout: 5000 });
  const shown = await page.evaluate(() => [...document.querySelectorAll('#routers-body tr[data-name]')].map(tr => ({
    name: tr.getAttribute('data-name'), label: tr.querySelector('td b').textContent,
    rule: tr.querySelectorAll('td')[1].textContent, status: tr.querySelectorAll('td')[6].textContent })));
  for (const n of names) {
    const r = shown.find(x => x.name === n);
    assert(r, 'router ' + n + ' is not in the page');
    assert(r.rule.length > 0 && r.status === 'enabled', 'router ' + n + ' shown with rule "' + r.rule + '", status ' + r.status);
  }
  step('every router in the page: ' + shown.map(r => r.label + ' ' + r.rule).join(', '));
  const nd = procs.filter(p => p.role === 'data').length;
  const card = await page.textContent('#card-data .big');
  assert(card === nd + ' / ' + nd, 'data node card says ' + card);
  return nd;
}

async function killVictim(page, nd) {
  const p = proc(VICTIM);
  assert(p && p.role === 'data', VICTIM + ' is not a data node of cluster.json');
  assert(runs(p.pid, p.argv[0]), VICTIM + "'s recorded pid " + p.pid + ' does not run ' + p.argv[0]);
  await page.evaluate(() => { window.__noReload = 1; });
  const t0 = Date.now();
  process.kill(p.pid, 'SIGKILL');
  const ms = await waitHealth(page, 'unhealthy', t0, DOWN_MS);
  await page.waitForFunction(want => document.querySelector('#card-data .big').textContent === want,
    (nd - 1) + ' / ' + nd, { timeout: 3000 });
  await page.waitForFunction(v => [...document.querySelectorAll('#event-log li')].some(li => li.textContent.includes(v + ' is unhealthy')),
    VICTIM, { timeout: 3000 });
  assert(await page.evaluate(() => window.__noReload === 1), 'the page reloaded');
  step('kill -9 ' + VICTIM + ' (pid ' + p.pid + '): unhealthy in the page after ' + ms + ' ms, no reload; card ' +
    (nd - 1) + ' / ' + nd + ', event logged');
  const m = await (await fetch(BASE + '/metrics')).text();
  assert(m.includes('controlplane_cluster_nodes{role="data",healthy="false"} 1'),
    '/metrics does not count the dead data node');
  step('/metrics counts it: controlplane_cluster_nodes{role="data",healthy="false"} 1');
  return ms;
}

async function restartVictim(page, nd) {
  const t0 = Date.now();
  const pid = execFileSync('python3', [CLUSTER_PY, CJ, 'restart', VICTIM], { encoding: 'utf8' }).trim();
  assert(Number(pid) > 1 && proc(VICTIM).pid === Number(pid), 'cluster.json has the new pid');
  const ms = await waitHealth(page, 'healthy', t0, UP_MS);
  await page.waitForFunction(want => document.querySelector('#card-data .big').textContent === want,
    nd + ' / ' + nd, { timeout: 3000 });
  await page.waitForFunction(v => [...document.querySelectorAll('#event-log li')].some(li => li.textContent.includes(v + ' is healthy again')),
    VICTIM, { timeout: 3000 });
  const rev = (await apiGet('/api/revisions')).find(r => r.current).revision;
  await page.waitForFunction(([v, want]) => [...document.querySelectorAll('#nodes-body tr')].some(tr =>
    tr.querySelector('td b') && tr.querySelector('td b').textContent === v && tr.querySelectorAll('td')[4].textContent.trim() === want),
  [VICTIM, '#' + rev], { timeout: 5000 });
  assert(await page.evaluate(() => window.__noReload === 1), 'the page reloaded');
  step('restarted ' + VICTIM + ' from its argv (pid ' + pid + '): healthy in the page after ' + ms +
    ' ms, serving revision #' + rev + ', no reload');
  return ms;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  let failed = false, page = null;
  try {
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    await login(page);
    const nd = await seeCluster(page);
    await page.waitForTimeout(1500); // a few chart samples
    await shots(page, '1-cluster-healthy');
    await killVictim(page, nd);
    await page.waitForTimeout(1200);
    await shots(page, '2-' + VICTIM + '-killed');
    await restartVictim(page, nd);
    await page.waitForTimeout(1200);
    await shots(page, '3-' + VICTIM + '-restarted');
    assert(errors.length === 0, 'page errors: ' + errors.join('; '));
  } catch (e) {
    console.log('FAIL ' + e.message);
    failed = true;
    if (page) {
      const f = path.join(SHOTS, 'failed.png');
      await page.screenshot({ path: f, fullPage: true }).then(() => console.log('  screenshot ' + f), () => {});
    }
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
