// app.js -- the dashboard: loads the cluster from the control node's API,
// follows /api/events (server-sent events) to update itself without a
// reload, and draws the charts on <canvas> by hand. No framework; every
// text goes through textContent (never innerHTML) so names cannot inject.
'use strict';

const S = {
  nodes: [], routers: [], services: [], middlewares: [], revisions: [],
  overview: null, version: null,
  series: { interval_ms: 1000, times: [], routers: {}, nodes: {} },
  cap: 300, colors: {}, events: [],
};
const PALETTE = ['#2f6fe4', '#e4572e', '#17a589', '#a45ee5', '#f2a900',
  '#2e4057', '#d64599', '#58a4b0', '#8a9a5b', '#c0392b'];

// ==== helpers ====

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'title') e.title = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function fill(tbody, rows, empty) {
  tbody.replaceChildren(...rows);
  if (!rows.length) {
    const cols = tbody.parentElement.querySelectorAll('th').length;
    tbody.append(el('tr', {}, el('td', { colspan: cols, class: 'muted' }, empty)));
  }
  applyFilter(tbody);
}

function short(name) { return String(name || '').replace(/@file$/, ''); }

function ago(iso) {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  return new Date(iso).toLocaleString();
}

function hhmmss(ms) { return new Date(ms).toLocaleTimeString(); }

function color(name) {
  if (!S.colors[name]) {
    const used = Object.keys(S.colors).length;
    S.colors[name] = PALETTE[used % PALETTE.length];
  }
  return S.colors[name];
}

// The session ended (logout elsewhere, password reset, expiry): reload to
// get the login form, at most once in 5 s so that a browser holding other
// credentials cannot loop.
function relogin() {
  if (S.leaving) return; // logging out: that navigation wins
  const last = Number(sessionStorage.getItem('reloadAt')) || 0;
  if (Date.now() - last < 5000) return;
  sessionStorage.setItem('reloadAt', String(Date.now()));
  location.reload();
}

async function api(path) {
  const r = await fetch(path, {
    credentials: 'same-origin',
    headers: { 'X-Requested-With': 'dashboard', Accept: 'application/json' },
  });
  if (r.status === 401) { relogin(); throw new Error('logged out'); }
  if (!r.ok) throw new Error(path + ': ' + r.status);
  return r.json();
}

// ==== summary cards ====

function card(id, big, sub, level) {
  const c = $(id);
  c.querySelector('.big').textContent = big;
  c.querySelector('.sub').textContent = sub;
  c.classList.toggle('bad', level === 'bad');
  c.classList.toggle('warn', level === 'warn');
  return c;
}

function renderCards() {
  const cn = S.nodes.filter(n => n.role === 'control');
  const dn = S.nodes.filter(n => n.role === 'data');
  const cok = cn.filter(n => n.healthy).length, dok = dn.filter(n => n.healthy).length;
  const leader = cn.find(n => n.leader);
  card('card-control', cok + ' / ' + cn.length,
    leader ? 'leader: ' + leader.name : 'no leader',
    !leader || cok < cn.length ? (cok * 2 > cn.length ? 'warn' : 'bad') : '');
  card('card-data', dok + ' / ' + dn.length, dok === dn.length ? 'all healthy' : (dn.length - dok) + ' unhealthy',
    dok < dn.length ? (dok ? 'warn' : 'bad') : '');
  const cur = S.revisions.find(r => r.current) || S.revisions[0];
  if (cur) {
    const c = card('card-revision', '#' + cur.revision,
      cur.servedBy + ' of ' + cur.dataNodes + ' data nodes serve it' + (cur.nackedBy ? ', ' + cur.nackedBy + ' NACKed' : ''),
      cur.nackedBy ? 'bad' : cur.servedBy < cur.dataNodes ? 'warn' : '');
    c.querySelector('.bar span').style.width = (cur.dataNodes ? 100 * cur.servedBy / cur.dataNodes : 0) + '%';
    c.querySelector('.bar span').style.background = cur.nackedBy ? 'var(--bad)' : 'var(--ok)';
  }
  const h = S.overview && S.overview.http;
  if (h) {
    for (const k of ['routers', 'services', 'middlewares']) {
      const x = h[k];
      const bad = x.errors ? x.errors + ' errors' : '', warn = x.warnings ? x.warnings + ' warnings' : '';
      card('card-' + k, x.total, [bad, warn].filter(Boolean).join(', ') || 'all enabled',
        x.errors ? 'bad' : x.warnings ? 'warn' : '');
    }
  }
}

// ==== tables ====

function renderNodes() {
  const cur = (S.revisions.find(r => r.current) || {}).revision;
  fill($('nodes-body'), S.nodes.map(n => el('tr', { class: n.healthy ? '' : 'down' },
    el('td', {}, el('b', {}, n.name), n.leader ? el('span', { class: 'pill leader' }, 'leader') : null),
    el('td', {}, el('span', { class: 'pill role' }, n.role)),
    el('td', {}, el('span', { class: 'pill ' + (n.healthy ? 'ok' : 'bad') }, n.healthy ? 'healthy' : 'unhealthy')),
    el('td', { class: 'mono' }, n.address || '–', n.httpAddress ? el('div', { class: 'muted' }, 'http ' + n.httpAddress) : null),
    el('td', {}, n.revision ? '#' + n.revision : '–',
      n.revision && cur && n.revision !== cur ? el('span', { class: 'pill warn', title: 'current is #' + cur }, ' behind') : null),
    el('td', {}, n.nack ? el('div', { class: 'nack' }, '#' + n.nack.revision + ': ' + (n.nack.error || 'rejected')) : '–'),
    el('td', { class: 'muted' }, ago(n.lastSeen)),
  )), 'no nodes');
}

function tags(list) { return (list || []).map(x => el('span', { class: 'tag' }, short(x))); }

function renderRouters() {
  fill($('routers-body'), S.routers.map(r => el('tr', { 'data-name': r.name },
    el('td', {}, el('b', {}, short(r.name))),
    el('td', { class: 'mono' }, r.rule || ''),
    el('td', {}, tags(r.using)),
    el('td', {}, tags(r.middlewares)),
    el('td', {}, short(r.service)),
    el('td', {}, r.priority === undefined ? 'auto' : r.priority),
    el('td', {}, statusPill(r.status)),
  )), 'no routers');
}

function statusPill(st) {
  const cls = st === 'enabled' ? 'ok' : st === 'warning' ? 'warn' : 'bad';
  return el('span', { class: 'pill ' + cls }, st || 'unknown');
}

function servers(s) {
  if (s.loadBalancer) {
    const st = s.serverStatus || {};
    return (s.loadBalancer.servers || []).map(x => el('div', { class: 'server mono' },
      el('span', { class: 'dot ' + (st[x.url] === 'UP' ? 'up' : st[x.url] === 'DOWN' ? 'down' : ''),
        title: st[x.url] || 'no health check' }),
      x.url, x.weight ? el('span', { class: 'muted' }, ' ×' + x.weight) : null));
  }
  const inner = s.weighted || s.mirroring || s.failover || {};
  const list = inner.services || [];
  if (list.length) return list.map(x => el('div', {}, el('span', { class: 'tag' }, x.name), x.weight ? ' weight ' + x.weight : ''));
  return el('span', { class: 'mono muted' }, JSON.stringify(inner));
}

function renderServices() {
  fill($('services-body'), S.services.map(s => el('tr', { 'data-name': s.name },
    el('td', {}, el('b', {}, short(s.name))),
    el('td', {}, s.type),
    el('td', {}, servers(s)),
    el('td', {}, tags(s.usedBy)),
    el('td', {}, statusPill(s.status)),
  )), 'no services');
}

function settings(m) {
  const v = m[Object.keys(m).find(k => typeof m[k] === 'object' && !Array.isArray(m[k]))] || {};
  return el('span', { class: 'mono' }, JSON.stringify(v));
}

function renderMiddlewares() {
  fill($('middlewares-body'), S.middlewares.map(m => el('tr', {},
    el('td', {}, el('b', {}, short(m.name))),
    el('td', {}, m.type),
    el('td', {}, settings(m)),
    el('td', {}, tags(m.usedBy)),
  )), 'no middlewares');
}

function renderRevisions() {
  fill($('revisions-body'), S.revisions.map(r => {
    const pct = r.dataNodes ? 100 * r.servedBy / r.dataNodes : 0;
    return el('tr', {},
      el('td', {}, el('b', {}, '#' + r.revision), r.current ? el('span', { class: 'pill ok', style: '' }, 'current') : null),
      el('td', { class: 'muted' }, r.time ? new Date(r.time).toLocaleString() : '–'),
      el('td', {}, r.source || '–'),
      el('td', {}, r.summary || ''),
      el('td', {}, el('div', { class: 'servebar' },
        el('div', { class: 'bar' }, el('span', { style: 'width:' + pct + '%' + (r.nackedBy ? ';background:var(--bad)' : '') })),
        r.servedBy + ' / ' + r.dataNodes, r.nackedBy ? el('span', { class: 'nack' }, r.nackedBy + ' NACK') : null)));
  }), 'no revisions yet');
}

function applyFilter(tbody) {
  const input = document.querySelector('input.filter[data-table="' + tbody.id + '"]');
  const q = input ? input.value.trim().toLowerCase() : '';
  for (const tr of tbody.rows) {
    const name = (tr.getAttribute('data-name') || '').toLowerCase();
    tr.style.display = !q || name.includes(q) || !tr.hasAttribute('data-name') ? '' : 'none';
  }
}

// ==== charts ====

function setupCanvas(c) {
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.height / (c._dpr || 1);
  c._dpr = dpr;
  c.width = Math.round(w * dpr);
  c.height = Math.round(h * dpr);
  const g = c.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { g, w, h };
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// Samples across the charts: the history kept, but at least a minute, so
// that a fresh page does not squeeze everything against the right edge.
function win() { return Math.min(S.cap, Math.max(60, S.series.times.length)); }

// Time axis: the last win() samples end at the right edge.
function xOf(i, n, left, width) {
  return left + width * (win() - n + i) / Math.max(1, win() - 1);
}

function timeAxis(g, left, top, width, height) {
  g.fillStyle = '#6b7385';
  g.font = '11px system-ui, sans-serif';
  g.textAlign = 'center';
  const span = win() * S.series.interval_ms / 1000;
  for (let k = 0; k <= 5; k++) {
    const s = Math.round(span * (1 - k / 5));
    const label = s === 0 ? 'now' : s >= 60 ? '-' + Math.round(s / 60) + 'm' : '-' + s + 's';
    g.fillText(label, left + width * k / 5, top + height + 14);
  }
}

function lineChart(canvas, legend, field, unit) {
  const { g, w, h } = setupCanvas(canvas);
  const left = 44, top = 8, width = w - left - 10, height = h - top - 22;
  const names = Object.keys(S.series.routers).sort();
  const n = S.series.times.length;
  let max = 0;
  for (const nm of names) for (const v of S.series.routers[nm][field]) if (v > max) max = v;
  max = niceMax(max * 1.1);
  g.clearRect(0, 0, w, h);
  g.strokeStyle = '#e2e6ee';
  g.fillStyle = '#6b7385';
  g.font = '11px system-ui, sans-serif';
  g.textAlign = 'right';
  g.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const y = top + height * (1 - k / 4);
    g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + width, y + 0.5); g.stroke();
    const v = max * k / 4;
    g.fillText(v >= 100 ? Math.round(v) : +v.toFixed(1), left - 6, y + 4);
  }
  timeAxis(g, left, top, width, height);
  g.lineWidth = 1.8;
  g.lineJoin = 'round';
  for (const nm of names) {
    const vals = S.series.routers[nm][field];
    g.strokeStyle = color(nm);
    g.beginPath();
    let pen = false;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v === null || v === undefined) { pen = false; continue; }
      const x = xOf(i + n - vals.length, n, left, width), y = top + height * (1 - v / max);
      if (pen) g.lineTo(x, y); else g.moveTo(x, y);
      pen = true;
    }
    g.stroke();
  }
  legend.replaceChildren(...names.map(nm => {
    const vals = S.series.routers[nm][field];
    let last = null;
    for (let i = vals.length - 1; i >= 0 && last === null; i--) last = vals[i];
    return el('span', {}, el('span', { class: 'sw', style: 'background:' + color(nm) }), nm,
      el('b', {}, last === null ? '–' : (last >= 100 ? Math.round(last) : last.toFixed(1)) + unit));
  }));
}

function healthChart() {
  const c = $('health-chart');
  const names = S.nodes.map(n => n.name).filter(nm => S.series.nodes[nm]);
  for (const nm of Object.keys(S.series.nodes)) if (!names.includes(nm)) names.push(nm);
  const rowH = 20;
  const want = names.length * rowH + 30;
  if (Math.round(c.height / (c._dpr || 1)) !== want) { c.height = want * (c._dpr || 1); }
  const { g, w, h } = setupCanvas(c);
  const left = 70, top = 4, width = w - left - 10, height = names.length * rowH;
  const n = S.series.times.length;
  const cellW = width / Math.max(1, win() - 1);
  g.clearRect(0, 0, w, h);
  g.font = '12px system-ui, sans-serif';
  g.textAlign = 'right';
  names.forEach((nm, r) => {
    const st = S.series.nodes[nm].state;
    const y = top + r * rowH;
    g.fillStyle = '#1d2433';
    g.fillText(nm, left - 8, y + 14);
    g.fillStyle = '#f0f2f6';
    g.fillRect(left, y + 3, width, rowH - 6);
    for (let i = 0; i < st.length; i++) {
      if (!st[i]) continue;
      g.fillStyle = st[i] === 1 ? '#1e9e5a' : '#d64541';
      const x = xOf(i + n - st.length, n, left, width);
      g.fillRect(Math.floor(x - cellW / 2), y + 3, Math.ceil(cellW) + 1, rowH - 6);
    }
  });
  timeAxis(g, left, top, width, height);
}

let drawPending = false;
function drawCharts() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    lineChart($('rps-chart'), $('rps-legend'), 'rps', '/s');
    lineChart($('lat-chart'), $('lat-legend'), 'latency_ms', ' ms');
    healthChart();
  });
}

function addSample(pt) {
  const s = S.series;
  s.times.push(pt.t);
  const n = s.times.length;
  for (const [nm, v] of Object.entries(pt.routers || {})) {
    if (!s.routers[nm]) s.routers[nm] = { rps: Array(n - 1).fill(null), errors: Array(n - 1).fill(null), latency_ms: Array(n - 1).fill(null) };
  }
  for (const [nm, r] of Object.entries(s.routers)) {
    const v = (pt.routers || {})[nm] || {};
    for (const f of ['rps', 'errors', 'latency_ms']) r[f].push(v[f] === undefined ? null : v[f]);
  }
  for (const nm of Object.keys(pt.nodes || {})) {
    if (!s.nodes[nm]) s.nodes[nm] = { state: Array(n - 1).fill(0) };
  }
  for (const [nm, x] of Object.entries(s.nodes)) x.state.push((pt.nodes || {})[nm] || 0);
  if (n > S.cap) {
    const cut = n - S.cap;
    s.times.splice(0, cut);
    for (const r of Object.values(s.routers)) for (const f of ['rps', 'errors', 'latency_ms']) r[f].splice(0, cut);
    for (const x of Object.values(s.nodes)) x.state.splice(0, cut);
  }
  drawCharts();
}

// ==== events ====

function logEvent(type, data, time) {
  S.events.unshift({ type, data, time: time || new Date().toISOString() });
  S.events.length = Math.min(S.events.length, 100);
  $('event-log').replaceChildren(...S.events.map(e => el('li', {},
    el('span', { class: 't' }, new Date(e.time).toLocaleTimeString()),
    el('span', { class: 'k' }, e.type),
    el('span', { class: 'mono' }, describe(e)))));
}

function describe(e) {
  const d = e.data || {};
  switch (e.type) {
    case 'node': return d.node + (d.joined ? ' joined' : d.healthy ? ' is healthy again' : ' is unhealthy');
    case 'leader': return d.node + ' is the leader now';
    case 'revision': return 'revision #' + d.revision + (d.source ? ' (' + d.source + ')' : '');
    case 'ack': return d.node + ' serves revision #' + d.revision;
    case 'nack': return d.node + ' rejected revision #' + d.revision + ': ' + d.error;
    case 'config': return 'this control node serves revision #' + d.revision;
    case 'nodes': return 'node list changed';
    case 'revisions': return 'revision history changed';
    default: return JSON.stringify(d);
  }
}

async function loadConfig() {
  const [ov, r, s, m] = await Promise.all([api('/api/overview'), api('/api/http/routers'),
    api('/api/http/services'), api('/api/http/middlewares')]);
  S.overview = ov; S.routers = r; S.services = s; S.middlewares = m;
  renderRouters(); renderServices(); renderMiddlewares(); renderCards();
}

async function loadCluster() {
  const [n, rv] = await Promise.all([api('/api/nodes'), api('/api/revisions')]);
  S.nodes = n; S.revisions = rv;
  renderNodes(); renderRevisions(); renderCards(); drawCharts();
}

async function loadSeries() {
  const ts = await api('/api/timeseries');
  S.series = ts;
  S.cap = Math.max(60, Math.min(600, Math.max(ts.times.length, 300)));
  for (const nm of Object.keys(ts.routers).sort()) color(nm);
  drawCharts();
}

function connect() {
  const es = new EventSource('/api/events');
  S.es = es;
  const live = $('live');
  es.onopen = () => { live.className = 'live on'; live.textContent = 'live'; };
  es.onerror = () => {
    live.className = 'live off'; live.textContent = 'reconnecting';
    fetch('/api/version', { headers: { 'X-Requested-With': 'dashboard' } })
      .then(r => { if (r.status === 401) relogin(); }).catch(() => {});
  };
  es.addEventListener('hello', () => { loadSeries().catch(() => {}); });
  es.addEventListener('sample', e => addSample(JSON.parse(e.data)));
  es.addEventListener('nodes', e => {
    S.nodes = JSON.parse(e.data);
    renderNodes(); renderCards(); drawCharts();
    api('/api/revisions').then(rv => { S.revisions = rv; renderRevisions(); renderCards(); }).catch(() => {});
  });
  es.addEventListener('revisions', e => { S.revisions = JSON.parse(e.data); renderRevisions(); renderCards(); renderNodes(); });
  es.addEventListener('config', e => { logEvent('config', JSON.parse(e.data)); loadConfig().catch(() => {}); });
  for (const t of ['node', 'leader', 'revision', 'ack', 'nack', 'apply', 'delete', 'rollback', 'error']) {
    // 'error' is also the EventSource's own event (stream closed), with no data
    es.addEventListener(t, e => { if (typeof e.data === 'string') logEvent(t, JSON.parse(e.data)); });
  }
}

async function main() {
  // logging out ends the event stream too: do not let its error handler
  // navigate to the login form while the logout request is on its way
  const out = document.querySelector('form[action="/api/logout"]');
  if (out) out.addEventListener('submit', () => { S.leaving = true; if (S.es) S.es.close(); });
  for (const input of document.querySelectorAll('input.filter')) {
    input.addEventListener('input', () => applyFilter($(input.dataset.table)));
  }
  window.addEventListener('resize', drawCharts);
  const v = await api('/api/version');
  S.version = v;
  $('served-by').textContent = 'served by ' + v.nodeId;
  $('footer').textContent = 'version ' + v.Version + ' (' + v.commit + ') · control node ' + v.nodeId +
    ' · up since ' + new Date(v.startDate).toLocaleString();
  const log = await api('/api/events/log');
  for (const e of log) if (e.type !== 'nodes' && e.type !== 'revisions') logEvent(e.type, e.data, e.time);
  await Promise.all([loadConfig(), loadCluster(), loadSeries()]);
  connect();
  // Server health is not evented: refresh services and counts now and then.
  setInterval(() => { loadConfig().catch(() => {}); renderNodes(); }, 5000);
}

main().catch(err => { console.error(err); });
