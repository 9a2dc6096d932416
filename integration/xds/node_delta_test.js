// node_delta_test.js -- the incremental protocol (DeltaAggregatedResources)
// against our server, from a small client built on @grpc/grpc-js and Envoy's
// own ads.proto (shipped in @grpc/grpc-js-xds/deps): subscribe, ACK, pushes
// of changed resources only, removed_resources, NACK recording, and a
// reconnect with initial_resource_versions that resends only what differs.
//
//   node node_delta_test.js XDS_TEST_SERVER_BIN TMPDIR
'use strict';
const path = require('path');
const assert = require('assert');
const lib = require('./lib.js');

const [bin] = process.argv.slice(2);
const DEPS = path.join(lib.NODE_MODULES, '@grpc', 'grpc-js-xds', 'deps');
const T = 'type.googleapis.com/envoy.config.';
const CDS = T + 'cluster.v3.Cluster';
const EDS = T + 'endpoint.v3.ClusterLoadAssignment';
const NAME = 'delta';
const state = {};

function adsClient(port) {
  const def = lib.protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
    includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate']
      .map((d) => path.join(DEPS, d)),
  });
  const pkg = lib.grpc.loadPackageDefinition(def);
  const Ads = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
  return new Ads(`127.0.0.1:${port}`, lib.grpc.credentials.createInsecure());
}

// One delta stream with a queue of responses.
class DeltaStream {
  constructor(client) {
    this.queue = [];
    this.call = client.DeltaAggregatedResources();
    this.call.on('data', (r) => this.queue.push(r));
    this.call.on('error', () => {});
    this.node = { id: 'delta-client', cluster: 'it', user_agent_name: 'delta-test' };
    this.first = true;
  }
  send(req) {
    if (this.first) { req.node = this.node; this.first = false; }
    this.call.write(req);
  }
  // Next response of `type` (others stay queued), within ms.
  async next(type, ms = 5000) {
    return lib.waitFor(`a ${type} response`, ms, async () => {
      const i = this.queue.findIndex((r) => r.type_url === type);
      return i < 0 ? null : this.queue.splice(i, 1)[0];
    }, 20);
  }
  async none(type, ms = 1000) {
    await lib.sleep(ms);
    const r = this.queue.find((x) => x.type_url === type);
    assert.strictEqual(r, undefined, `unexpected ${type} response: ${JSON.stringify(r)}`);
  }
  ack(r) { this.send({ type_url: r.type_url, response_nonce: r.nonce }); }
  end() { this.call.end(); this.call.cancel(); }
}

const names = (r) => r.resources.map((x) => x.name).sort();

lib.runCases([
  ['delta-subscribe-and-ack', async () => {
    state.cp = new lib.ControlPlane(bin, ['--name', NAME, '--backend', '1001',
      '--backend', '1002']);
    state.port = await state.cp.port();
    state.client = adsClient(state.port);
    const s = new DeltaStream(state.client);
    state.s = s;
    s.send({ type_url: CDS }); // no names: the legacy wildcard for CDS
    const c = await s.next(CDS);
    assert.deepStrictEqual(names(c), ['cluster-delta']);
    assert.strictEqual(c.resources[0].resource.type_url, CDS);
    assert.strictEqual(c.system_version_info, 'v1');
    state.cver = c.resources[0].version;
    s.ack(c);
    s.send({ type_url: EDS, resource_names_subscribe: ['service-delta'] });
    const e = await s.next(EDS);
    assert.deepStrictEqual(names(e), ['service-delta']);
    state.ever1 = e.resources[0].version;
    s.ack(e);
    await state.cp.waitLine(/^event ack .*node=delta-client type=eds version=v1 /, 5000);
    const nodes = await state.cp.nodes();
    assert.match(nodes[0], /delta=1 /, nodes[0]);
    assert.match(nodes[0], /cds\.names=0 cds\.wildcard=1 /, nodes[0]);
    assert.match(nodes[0], /eds\.names=1 eds\.wildcard=0 /, nodes[0]);
  }],
  ['delta-push-only-changed', async () => {
    const s = state.s;
    state.cp.send('next'); // endpoints change, nothing else
    const e = await s.next(EDS);
    assert.deepStrictEqual(names(e), ['service-delta']);
    assert.notStrictEqual(e.resources[0].version, state.ever1);
    assert.deepStrictEqual(e.removed_resources, []);
    state.ever2 = e.resources[0].version;
    s.ack(e);
    await s.none(CDS);
  }],
  ['delta-removed-resources', async () => {
    const s = state.s;
    state.cp.send('drop-cluster');
    const c = await s.next(CDS);
    assert.deepStrictEqual(c.resources, []);
    assert.deepStrictEqual(c.removed_resources, ['cluster-delta']);
    s.ack(c);
    state.cp.send('good');
    const c2 = await s.next(CDS);
    assert.deepStrictEqual(names(c2), ['cluster-delta']);
    assert.strictEqual(c2.resources[0].version, state.cver);
    s.ack(c2);
    await s.none(EDS, 500); // endpoints did not change
  }],
  ['delta-nack-recorded', async () => {
    const s = state.s;
    const from = state.cp.lines.length;
    state.cp.send('backend 1003');
    const e = await s.next(EDS);
    s.send({ type_url: EDS, response_nonce: e.nonce,
             error_detail: { code: 3, message: 'endpoint rejected by test' } });
    await state.cp.waitLine(/^event nack .*type=eds .*message="endpoint rejected by test"/, 5000, from);
    const nodes = await state.cp.nodes();
    assert.match(nodes[0], /eds\.nacks=1 eds\.nack="endpoint rejected by test"/, nodes[0]);
    await s.none(EDS, 500); // no resend of the rejected resource
    // back to the version the client holds
    state.cp.send('backend 1002');
    const e2 = await s.next(EDS);
    assert.strictEqual(e2.resources[0].version, state.ever2);
    s.ack(e2);
  }],
  ['delta-reconnect-initial-versions', async () => {
    state.s.end();
    await lib.waitFor('the old stream to go', 5000, async () =>
      (await state.cp.nodes()).length === 0);
    state.cp.send('next'); // port 1001: endpoints differ from what we hold
    await state.cp.waitLine(/^published v7 port=1001 /, 5000);
    const s = new DeltaStream(state.client);
    state.s = s;
    s.send({ type_url: CDS, initial_resource_versions: { 'cluster-delta': state.cver } });
    s.send({ type_url: EDS, resource_names_subscribe: ['service-delta', 'gone'],
             initial_resource_versions: { 'service-delta': state.ever2, gone: 'old' } });
    const e = await s.next(EDS);
    assert.deepStrictEqual(names(e), ['service-delta']);
    assert.notStrictEqual(e.resources[0].version, state.ever2);
    assert.strictEqual(e.resources[0].version, state.ever1); // port 1001 again
    assert.deepStrictEqual(e.removed_resources, ['gone']);
    await s.none(CDS); // the cluster it holds is current: not resent
    s.ack(e);
    s.end();
  }],
], async () => {
  if (state.client) state.client.close();
  if (state.cp) await state.cp.stop();
});
