// decode.js -- checks that the bytes of `traefikeectl translate -o wire`
// decode with Envoy's own .proto files (protobufjs over
// @grpc/grpc-js-xds/deps) and with our traefikee filter protos, that no
// field is dropped as unknown (re-encoding gives the same length), and the
// same for every Any nested inside, recursively.
// usage: node decode.js REPO WIRE_FILE
'use strict';
const fs = require('fs');
const path = require('path');

const repo = process.argv[2];
const nm = path.join(repo, 'integration/node/node_modules');
const protobuf = require(path.join(nm, 'protobufjs'));
const deps = path.join(nm, '@grpc/grpc-js-xds/deps');
const includes = [
  path.join(deps, 'envoy-api'), path.join(deps, 'xds'),
  path.join(deps, 'googleapis'), path.join(deps, 'protoc-gen-validate'),
  path.join(repo, 'api/proto'), '/usr/include',
];

const root = new protobuf.Root();
root.resolvePath = (origin, target) => {
  for (const dir of includes) {
    const p = path.join(dir, target);
    if (fs.existsSync(p)) return p;
  }
  return target;
};
root.loadSync([
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'traefikee/filters/v1/filters.proto',
], {keepCase: true});
root.resolveAll();

let checked = 0;
function check(typeName, bytes, where) {
  const type = root.lookupType(typeName);
  const msg = type.decode(bytes);
  const again = type.encode(msg).finish();
  if (again.length !== bytes.length)
    throw new Error(`${where}: ${typeName}: ${bytes.length} bytes decode to ` +
                    `${again.length} (unknown or mistyped fields)`);
  checked++;
  walk(msg, where);
  return msg;
}

function walk(v, where) {
  if (v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) { v.forEach((x, i) => walk(x, `${where}[${i}]`)); return; }
  if (typeof v.type_url === 'string' && v.value instanceof Uint8Array) {
    const name = v.type_url.replace(/^.*\//, '');
    check(name, v.value, `${where}<${name}>`);
    return;
  }
  for (const k of Object.keys(v)) walk(v[k], `${where}.${k}`);
}

const want = {
  'envoy.config.listener.v3.Listener': 'name',
  'envoy.config.route.v3.RouteConfiguration': 'name',
  'envoy.config.cluster.v3.Cluster': 'name',
  'envoy.config.endpoint.v3.ClusterLoadAssignment': 'cluster_name',
  'envoy.extensions.transport_sockets.tls.v3.Secret': 'name',
};
const lines = fs.readFileSync(process.argv[3], 'utf8').split('\n').filter(Boolean);
for (const line of lines) {
  const [url, name, b64] = line.split(' ');
  const typeName = url.replace(/^type\.googleapis\.com\//, '');
  if (!(typeName in want)) throw new Error(`unexpected type ${url}`);
  const msg = check(typeName, Buffer.from(b64, 'base64'), name);
  if (msg[want[typeName]] !== name)
    throw new Error(`${name}: decoded name is ${msg[want[typeName]]}`);
}
console.log(`decode.js: ${lines.length} resources, ${checked} messages ` +
            'decoded with Envoy\'s protos');
