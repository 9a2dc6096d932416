// grpc_client.js -- calls the Echo service through the data node and
// prints one "ok NAME" / "FAIL NAME: why" line per check.
//   node grpc_client.js TARGET CASE...
// Cases: unary, sstream, cstream, bidi, big, deadline, unavailable, status,
// midstream (expects the backend killed while streaming: see run.sh).
//   node grpc_client.js TARGET names N
// makes N unary calls and prints the name of the backend that answered
// each (or "error CODE"), one a line.
'use strict';
const path = require('path');
const NM = path.join(__dirname, '..', 'node', 'node_modules');
const grpc = require(path.join(NM, '@grpc', 'grpc-js'));
const loader = require(path.join(NM, '@grpc', 'proto-loader'));

const [target, ...cases] = process.argv.slice(2);
const def = loader.loadSync(path.join(__dirname, 'echo.proto'), { keepCase: true });
const Echo = grpc.loadPackageDefinition(def).h2test.Echo;
const opts = {
  'grpc.max_receive_message_length': 64 << 20,
  'grpc.max_send_message_length': 64 << 20,
};
if (process.env.H2_AUTHORITY) opts['grpc.default_authority'] = process.env.H2_AUTHORITY;
// H2_CA: TLS to the data node, verified with that CA file for the
// authority's name (a channel option, as the target is an IP address)
let creds = grpc.credentials.createInsecure();
if (process.env.H2_CA) {
  creds = grpc.credentials.createSsl(require('fs').readFileSync(process.env.H2_CA));
  if (process.env.H2_AUTHORITY) opts['grpc.ssl_target_name_override'] = process.env.H2_AUTHORITY;
}
const client = new Echo(target, creds, opts);
const dl = (ms) => ({ deadline: new Date(Date.now() + ms) });

function unary(msg, o = dl(5000)) {
  return new Promise((res, rej) => client.Unary(msg, o, (e, r) => (e ? rej(e) : res(r))));
}

function collect(call) {
  return new Promise((res, rej) => {
    const out = [];
    call.on('data', (m) => out.push(m));
    call.on('error', rej);
    call.on('end', () => res(out));
  });
}

const checks = {
  async unary() {
    const r = await unary({ text: 'hi' });
    if (!/^\w+:hi$/.test(r.text)) throw new Error(`got ${r.text}`);
  },
  async sstream() {
    const out = await collect(client.ServerStream({ text: 's', count: 50 }, dl(5000)));
    if (out.length !== 50 || out[49].text.slice(-4) !== 's:49') throw new Error(`got ${out.length}`);
  },
  async cstream() {
    const r = await new Promise((res, rej) => {
      const call = client.ClientStream(dl(5000), (e, m) => (e ? rej(e) : res(m)));
      for (let i = 0; i < 100; i++) call.write({ blob: Buffer.alloc(10000, i) });
      call.end();
    });
    if (!/:100:1000000$/.test(r.text)) throw new Error(`got ${r.text}`);
  },
  async bidi() {
    const call = client.Bidi(dl(5000));
    const got = [];
    const done = new Promise((res, rej) => {
      call.on('data', (m) => {
        got.push(m.text);
        if (got.length < 20) call.write({ text: `m${got.length}` });
        else call.end();
      });
      call.on('error', rej);
      call.on('end', res);
    });
    call.write({ text: 'm0' });
    await done;
    if (got.length !== 20 || !got[19].endsWith(':m19')) throw new Error(`got ${got}`);
  },
  async big() {
    const blob = Buffer.alloc(8 << 20, 7);
    const r = await unary({ text: 'big', blob }, dl(20000));
    if (r.blob.length !== blob.length) throw new Error(`got ${r.blob.length} bytes`);
  },
  async status() {
    try {
      await unary({ text: 'fail' });
    } catch (e) {
      if (e.code === grpc.status.FAILED_PRECONDITION && /asked to fail/.test(e.details)) return;
      throw new Error(`code ${e.code} ${e.details}`);
    }
    throw new Error('no error');
  },
  async deadline() {
    const t0 = Date.now();
    let r;
    try {
      r = await unary({ text: 'slow', delay_ms: 3000 }, dl(300));
    } catch (e) {
      if (e.code === grpc.status.DEADLINE_EXCEEDED && Date.now() - t0 < 2000) return;
      throw new Error(`code ${e.code} ${e.details} after ${Date.now() - t0} ms`);
    }
    throw new Error(`answered ${JSON.stringify(r)} after ${Date.now() - t0} ms`);
  },
  async unavailable() {
    try {
      await unary({ text: 'x' });
    } catch (e) {
      if (e.code === grpc.status.UNAVAILABLE) return;
      throw new Error(`code ${e.code} ${e.details}`);
    }
    throw new Error('no error');
  },
  async slowstream() { // run.sh sends SIGTERM meanwhile: still completes
    const call = client.ServerStream({ text: 'd', count: 10, delay_ms: 150 }, dl(10000));
    call.once('data', () => console.log('streaming')); // run.sh sends SIGTERM now
    const out = await collect(call);
    if (out.length !== 10) throw new Error(`got ${out.length}`);
  },
  async midstream() {
    const t0 = Date.now();
    const call = client.ServerStream({ text: 'm', count: 100, delay_ms: 100 }, dl(30000));
    let n = 0;
    call.on('data', () => {
      if (++n === 3) console.log('streaming'); // run.sh kills the backend now
    });
    try {
      await new Promise((res, rej) => { call.on('error', rej); call.on('end', res); });
    } catch (e) {
      if (e.code !== grpc.status.OK && Date.now() - t0 < 10000) return;
      throw new Error(`code ${e.code} after ${Date.now() - t0} ms`);
    }
    throw new Error(`stream ended normally after ${n} messages`);
  },
};

async function names(n) {
  for (let i = 0; i < n; i++) {
    try {
      console.log((await unary({ text: 'n' }, dl(2000))).text.split(':')[0]);
    } catch (e) {
      console.log(`error ${e.code}`);
    }
  }
  client.close();
  process.exit(0);
}

(async () => {
  if (cases[0] === 'names') await names(Number(cases[1]));
  let fails = 0;
  for (const c of cases) {
    try {
      await checks[c]();
      console.log(`ok grpc-node-${c}`);
    } catch (e) {
      fails++;
      console.log(`FAIL grpc-node-${c}: ${e.message}`);
    }
  }
  client.close();
  process.exit(fails ? 1 : 0);
})();
