// node_sotw_test.js -- @grpc/grpc-js-xds as a proxyless client of our ADS
// server: calls xds:///NAME reach the backend, follow an EDS switch to a
// second backend, and survive a NACKed cluster that the server records.
//
//   node node_sotw_test.js XDS_TEST_SERVER_BIN TMPDIR
'use strict';
const path = require('path');
const assert = require('assert');
const lib = require('./lib.js');

const [bin, tmp] = process.argv.slice(2);
const NAME = 'echo-node';
const state = {};

async function hello(client) {
  return new Promise((resolve, reject) => {
    client.Hello({ name: 'x' }, { deadline: Date.now() + 3000 },
      (err, reply) => (err ? reject(err) : resolve(reply.backend)));
  });
}

lib.runCases([
  ['node-sotw-route-to-backend', async () => {
    state.a = await lib.startBackend('A');
    state.b = await lib.startBackend('B');
    state.cp = new lib.ControlPlane(bin, ['--name', NAME,
      '--backend', String(state.a.port), '--backend', String(state.b.port)]);
    const port = await state.cp.port();
    process.env.GRPC_XDS_BOOTSTRAP = lib.writeBootstrap(tmp, port, 'node-client');
    require(path.join(lib.NODE_MODULES, '@grpc', 'grpc-js-xds')).register();
    const Echo = lib.loadEcho().Echo;
    state.client = new Echo(`xds:///${NAME}`, lib.grpc.credentials.createInsecure());
    await lib.waitFor('a call to reach backend A', 20000,
      async () => (await hello(state.client)) === 'A');
    // the server saw the node and its ACKs of all four types
    const nodes = await state.cp.nodes();
    assert.strictEqual(nodes.length, 1, nodes.join('\n'));
    for (const t of ['lds', 'rds', 'cds', 'eds'])
      assert.match(nodes[0], new RegExp(`${t}\\.acked=v1 `), nodes[0]);
    assert.match(nodes[0], /id=node-client /);
    assert.match(nodes[0], /agent="gRPC Node Pure JS"\/1\./);
    await state.cp.waitLine(/^event connected .*node=node-client/, 1000);
  }],
  ['node-sotw-switch-backend', async () => {
    const from = state.cp.lines.length;
    state.cp.proc.kill('SIGHUP'); // the test server moves to the next backend
    await state.cp.waitLine(/^published v2 /, 5000, from);
    await lib.waitFor('calls to move to backend B', 20000, async () => {
      const got = await hello(state.client);
      return got === 'B';
    });
    // only EDS changed, so only EDS was pushed and ACKed at v2
    await state.cp.waitLine(/^event ack .*type=eds version=v2 /, 5000, from);
    const nodes = await state.cp.nodes();
    assert.match(nodes[0], /lds\.acked=v1 /, nodes[0]);
    assert.match(nodes[0], /eds\.acked=v2 /, nodes[0]);
    for (let i = 0; i < 5; i++) assert.strictEqual(await hello(state.client), 'B');
  }],
  ['node-sotw-nack-keeps-old-config', async () => {
    const from = state.cp.lines.length;
    state.cp.send('nack-cluster');
    const m = await state.cp.waitLine(/^event nack .*type=cds .*message=(.*)$/, 10000, from);
    assert.match(m[1], /LEAST_REQUEST|lb_policy|Unsupported|unsupported/i, m[0]);
    const nodes = await state.cp.nodes();
    assert.match(nodes[0], /cds\.nacks=1 /, nodes[0]);
    assert.match(nodes[0], /cds\.nack=.*(LEAST_REQUEST|lb_policy|nsupported)/i, nodes[0]);
    assert.match(nodes[0], /cds\.acked=v1 /, nodes[0]); // still on the old one
    for (let i = 0; i < 5; i++) assert.strictEqual(await hello(state.client), 'B');
    // back to a good config: accepted again
    const from2 = state.cp.lines.length;
    state.cp.send('good');
    await state.cp.waitLine(/^event ack .*type=cds version=v4 /, 10000, from2);
    assert.strictEqual(await hello(state.client), 'B');
  }],
  ['node-sotw-close-unsubscribes', async () => {
    // closing the channel makes grpc-js drop its watches: LDS/CDS requests
    // with no names, an unsubscribe (not a wildcard) for a named stream
    state.client.close();
    await lib.waitFor('LDS and CDS unsubscribed', 10000, async () => {
      const nodes = await state.cp.nodes();
      return nodes.length === 0 ||
        (/lds\.names=0 lds\.wildcard=0 /.test(nodes[0]) &&
         /cds\.names=0 cds\.wildcard=0 /.test(nodes[0]));
    });
  }],
], async () => {
  if (state.cp) await state.cp.stop();
  if (state.a) state.a.server.forceShutdown();
  if (state.b) state.b.server.forceShutdown();
});
