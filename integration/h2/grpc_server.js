// grpc_server.js -- the h2c backend of the HTTP/2 tests: the Echo service
// of echo.proto on 127.0.0.1:PORT, replies tagged with NAME, and the
// standard Health service (health.proto) answering SERVING, or NOT_SERVING
// while the file HEALTH_FILE exists (checked on each call). Without
// HEALTH_FILE ("-" or absent) there is no Health service: a Check gets
// UNIMPLEMENTED.
// GRPC_TLS_CERT and GRPC_TLS_KEY (PEM files): serve TLS (ALPN h2 only).
//   node grpc_server.js PORT NAME [HEALTH_FILE]
'use strict';
const path = require('path');
const NM = path.join(__dirname, '..', 'node', 'node_modules');
const grpc = require(path.join(NM, '@grpc', 'grpc-js'));
const loader = require(path.join(NM, '@grpc', 'proto-loader'));

const fs = require('fs');
const [port, name, healthFile = '-'] = process.argv.slice(2);
const def = loader.loadSync(path.join(__dirname, 'echo.proto'), { keepCase: true });
const Echo = grpc.loadPackageDefinition(def).h2test.Echo;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const impl = {
  async Unary(call, cb) {
    const m = call.request;
    if (m.delay_ms) await sleep(m.delay_ms);
    if (m.text === 'fail') {
      cb({ code: grpc.status.FAILED_PRECONDITION, message: 'asked to fail' });
      return;
    }
    cb(null, { text: `${name}:${m.text}`, blob: m.blob });
  },
  async ServerStream(call) {
    const m = call.request;
    for (let i = 0; i < m.count; i++) {
      if (m.delay_ms) await sleep(m.delay_ms);
      if (call.cancelled) return;
      call.write({ text: `${name}:${m.text}:${i}`, blob: m.blob });
    }
    call.end();
  },
  ClientStream(call, cb) {
    let n = 0;
    let bytes = 0;
    call.on('data', (m) => { n++; bytes += m.blob.length; });
    call.on('end', () => cb(null, { text: `${name}:${n}:${bytes}` }));
  },
  Bidi(call) {
    call.on('data', (m) => call.write({ text: `${name}:${m.text}`, blob: m.blob }));
    call.on('end', () => call.end());
  },
};

const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 << 20 });
server.addService(Echo.service, impl);
if (healthFile !== '-') {
  const hdef = loader.loadSync(path.join(__dirname, 'health.proto'), { keepCase: true });
  const Health = grpc.loadPackageDefinition(hdef).grpc.health.v1.Health;
  server.addService(Health.service, {
    Check(call, cb) {
      cb(null, { status: fs.existsSync(healthFile) ? 'NOT_SERVING' : 'SERVING' });
    },
  });
}
let creds = grpc.ServerCredentials.createInsecure();
if (process.env.GRPC_TLS_CERT) {
  creds = grpc.ServerCredentials.createSsl(null, [{
    cert_chain: fs.readFileSync(process.env.GRPC_TLS_CERT),
    private_key: fs.readFileSync(process.env.GRPC_TLS_KEY),
  }]);
}
server.bindAsync(`127.0.0.1:${port}`, creds, (err) => {
  if (err) { console.error(err); process.exit(1); }
  console.log('ready');
});
