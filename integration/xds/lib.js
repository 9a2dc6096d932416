// lib.js -- helpers for the Node xDS integration tests: the npm modules from
// integration/node, the control plane child process (xds_test_server) with a
// line reader, bounded waits, Echo backends and bootstrap files.
'use strict';
const path = require('path');
const fs = require('fs');
const { spawn } = require('child_process');

const NODE_MODULES = path.join(__dirname, '..', 'node', 'node_modules');
const grpc = require(path.join(NODE_MODULES, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(NODE_MODULES, '@grpc', 'proto-loader'));

function loadEcho() {
  const def = protoLoader.loadSync(path.join(__dirname, 'echo.proto'), {});
  return grpc.loadPackageDefinition(def).xdstest;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() (async, returns truthy when done) every `every` ms for at most
// `ms`; throws with `what` on timeout.
async function waitFor(what, ms, fn, every = 200) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timeout waiting for ${what}` + (last ? `: ${last.message}` : ''));
}

// The control plane: every stdout line is kept; waitLine() finds one.
class ControlPlane {
  constructor(bin, args) {
    this.lines = [];
    this.proc = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    let buf = '';
    this.proc.stdout.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    this.proc.stderr.on('data', (d) => { this.stderr += d.toString(); });
    this.exited = new Promise((r) => this.proc.on('exit', r));
  }
  send(cmd) { this.proc.stdin.write(cmd + '\n'); }
  // Waits for a line matching re after index `from`; returns the match.
  async waitLine(re, ms, from = 0) {
    return waitFor(`line ${re}`, ms, async () => {
      for (let i = from; i < this.lines.length; i++) {
        const m = this.lines[i].match(re);
        if (m) return m;
      }
      return null;
    }, 50);
  }
  async port() {
    const m = await this.waitLine(/^listening (\d+)$/, 10000);
    return Number(m[1]);
  }
  async nodes() {
    const from = this.lines.length;
    this.send('nodes');
    await this.waitLine(/^nodes end/, 5000, from);
    const out = [];
    for (let i = from; i < this.lines.length; i++)
      if (this.lines[i].startsWith('node ')) out.push(this.lines[i]);
    return out;
  }
  async stop() {
    if (this.proc.exitCode !== null) return;
    this.send('quit');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

// An Echo backend on a free loopback port answering with its own name.
function startBackend(name) {
  const pkg = loadEcho();
  const server = new grpc.Server();
  server.addService(pkg.Echo.service, {
    Hello: (call, cb) => cb(null, { backend: name }),
  });
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
      (err, port) => {
        if (err) return reject(err);
        resolve({ server, port, name });
      });
  });
}

function writeBootstrap(dir, port, nodeId) {
  const file = path.join(dir, `bootstrap-${nodeId}.json`);
  fs.writeFileSync(file, JSON.stringify({
    xds_servers: [{
      server_uri: `127.0.0.1:${port}`,
      channel_creds: [{ type: 'insecure' }],
      server_features: ['xds_v3'],
    }],
    node: { id: nodeId, cluster: 'it', locality: { zone: 'z1' },
            metadata: { suite: 'integration' } },
  }));
  return file;
}

// Runs the named async cases in order; prints ok/FAIL; exits non-zero on any
// failure. `cleanup` always runs.
async function runCases(cases, cleanup) {
  let failed = 0;
  for (const [name, fn] of cases) {
    try {
      await fn();
      console.log(`ok ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
      break; // later cases build on earlier ones
    }
  }
  try { await cleanup(); } catch (e) { console.log(`cleanup: ${e}`); failed++; }
  process.exit(failed ? 1 : 0);
}

module.exports = {
  grpc, protoLoader, NODE_MODULES, loadEcho, sleep, waitFor, ControlPlane,
  startBackend, writeBootstrap, runCases,
};
