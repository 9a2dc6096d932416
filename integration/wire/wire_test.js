'use strict';
// Wire-compatibility check, Node side: Envoy's own .proto files (shipped in
// @grpc/grpc-js-xds/deps) against our hand-written ones in api/proto.
//
//   node wire_test.js schema          our .proto files vs Envoy's: every
//                                     message, field, oneof, enum value kept
//   node wire_test.js check DIR       decode DIR/<T>.c.bin (written by the C
//                                     program) with Envoy's definitions,
//                                     compare field by field with DIR/<T>.json,
//                                     re-encode and compare bytes; then encode
//                                     <T>.json with Envoy's definitions into
//                                     DIR/<T>.node.bin for the C side.
//
// Prints "ok <T>" or "FAIL <T>: reason" per type; exits 1 on any failure.
// The JSON format is the one integration/wire/wire_walk.c writes: proto field
// names, only fields present on the wire, 64-bit integers as strings, bytes in
// base64, enums by name, maps as objects, and an Any whose type we know
// carries its content decoded under "@unpacked".

const fs = require('fs');
const path = require('path');

const NODE_DIR = process.env.WIRE_NODE_DIR || path.resolve(__dirname, '..', 'node');
const WKT_DIR = process.env.WIRE_WKT_DIR || '/usr/include';
const PROTO_DIR = process.env.WIRE_PROTO_DIR || path.resolve(__dirname, '..', '..', 'api', 'proto');
const pbjs = require(require.resolve('protobufjs', { paths: [NODE_DIR] }));
const DEPS = path.join(
  path.dirname(require.resolve('@grpc/grpc-js-xds/package.json', { paths: [NODE_DIR] })),
  'deps');

// The top-level messages the C program writes, by file name.
const TYPES = {
  Listener: 'envoy.config.listener.v3.Listener',
  RouteConfiguration: 'envoy.config.route.v3.RouteConfiguration',
  Cluster: 'envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  HttpConnectionManager:
    'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  Router: 'envoy.extensions.filters.http.router.v3.Router',
  DiscoveryRequest: 'envoy.service.discovery.v3.DiscoveryRequest',
  DiscoveryResponse: 'envoy.service.discovery.v3.DiscoveryResponse',
  DeltaDiscoveryRequest: 'envoy.service.discovery.v3.DeltaDiscoveryRequest',
  DeltaDiscoveryResponse: 'envoy.service.discovery.v3.DeltaDiscoveryResponse',
  Secret: 'envoy.extensions.transport_sockets.tls.v3.Secret',
  SecretValidation: 'envoy.extensions.transport_sockets.tls.v3.Secret',
  DownstreamTlsContext: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  UpstreamTlsContext: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
};

const ENVOY_FILES = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/service/discovery/v3/ads.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
];

// protobufjs bundles the well-known types as JSON with camelCase names;
// drop those so google/protobuf/*.proto come from the real files (with the
// proto field names Envoy's messages are compared by).
function useRealWellKnownTypes() {
  for (const k of Object.keys(pbjs.common)) {
    if (k.startsWith('google/protobuf/')) delete pbjs.common[k];
  }
}

function loadRoot(includeDirs, files) {
  const root = new pbjs.Root();
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const full = path.join(dir, target);
      if (fs.existsSync(full)) return full;
    }
    throw new Error(`${target} (imported by ${origin}) not found in ${includeDirs}`);
  };
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

function envoyRoot() {
  return loadRoot(['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate']
                    .map((d) => path.join(DEPS, d)).concat([WKT_DIR]), ENVOY_FILES);
}

/* ===== schema: our .proto files vs Envoy's ===== */

function allTypes(ns, out) {
  for (const obj of ns.nestedArray) {
    if (obj instanceof pbjs.Type || obj instanceof pbjs.Enum ||
        obj instanceof pbjs.Service) out.push(obj);
    if (obj.nestedArray) allTypes(obj, out);
  }
  return out;
}

function fieldShape(f) {
  return {
    id: f.id,
    type: f.resolvedType ? f.resolvedType.fullName : f.type,
    rule: f.map ? `map<${f.keyType}>` : (f.repeated ? 'repeated' : 'single'),
    oneof: f.partOf ? f.partOf.name : null,
  };
}

function compareType(ours, theirs, errs) {
  const name = ours.fullName;
  if (ours instanceof pbjs.Enum) {
    for (const [k, v] of Object.entries(ours.values)) {
      if (theirs.values[k] !== v) errs.push(`${name}.${k} = ${v}, Envoy has ${theirs.values[k]}`);
    }
    return;
  }
  if (ours instanceof pbjs.Service) {
    for (const m of ours.methodsArray) {
      const t = theirs.methods[m.name];
      if (!t || t.resolvedRequestType.fullName !== m.resolvedRequestType.fullName ||
          t.resolvedResponseType.fullName !== m.resolvedResponseType.fullName ||
          !!t.requestStream !== !!m.requestStream || !!t.responseStream !== !!m.responseStream) {
        errs.push(`${name}.${m.name} differs from Envoy's`);
      }
    }
    return;
  }
  for (const f of ours.fieldsArray) {
    const t = theirs.fields[f.name];
    if (!t) {
      errs.push(`${name}.${f.name}: no such field in Envoy`);
      continue;
    }
    const a = JSON.stringify(fieldShape(f));
    const b = JSON.stringify(fieldShape(t));
    if (a !== b) errs.push(`${name}.${f.name}: ours ${a}, Envoy ${b}`);
  }
}

function schema() {
  useRealWellKnownTypes();
  const theirs = envoyRoot();
  const ourFiles = [];
  (function walk(dir) {
    for (const e of fs.readdirSync(path.join(PROTO_DIR, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.proto')) ourFiles.push(rel);
    }
  })('envoy');
  const ours = loadRoot([PROTO_DIR, WKT_DIR], ourFiles);
  const errs = [];
  let n = 0;
  for (const t of allTypes(ours.lookup('envoy'), [])) {
    const other = theirs.lookup(t.fullName);
    if (!other || other.constructor !== t.constructor) {
      errs.push(`${t.fullName}: not in Envoy's API`);
      continue;
    }
    compareType(t, other, errs);
    n++;
  }
  if (errs.length) {
    for (const e of errs) console.log(`FAIL schema: ${e}`);
    return false;
  }
  console.log(`ok schema (${n} messages, enums and services of ${ourFiles.length} files)`);
  return true;
}

/* ===== values: decoded message vs expected JSON ===== */

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function isDefault(f, v) {
  if (v == null) return true;
  if (f.resolvedType instanceof pbjs.Type) return false;
  if (LONG_TYPES.has(f.type)) return String(v) === '0';
  if (f.type === 'bytes') return v.length === 0;
  return v === 0 || v === '' || v === false;
}

function present(f, msg) {
  const v = msg[f.name];
  if (f.map) return v != null && Object.keys(v).length > 0;
  if (f.repeated) return v != null && v.length > 0;
  if (f.partOf) return Object.prototype.hasOwnProperty.call(msg, f.name) && v != null;
  return !isDefault(f, v);
}

function anyType(root, typeUrl) {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  try {
    return root.lookupType(name);
  } catch (e) {
    return null;
  }
}

function compareScalar(f, a, e, where, errs) {
  let got;
  if (f.resolvedType instanceof pbjs.Enum) {
    got = f.resolvedType.valuesById[a];
    if (got === undefined) got = a;
  } else if (LONG_TYPES.has(f.type)) {
    got = String(a);
  } else if (f.type === 'bytes') {
    got = Buffer.from(a).toString('base64');
  } else if (f.type === 'float') {
    got = a;
    e = Math.fround(e);
  } else {
    got = a;
  }
  if (got !== e) errs.push(`${where}: got ${JSON.stringify(got)}, want ${JSON.stringify(e)}`);
}

function compareValue(root, f, a, e, where, errs) {
  if (f.resolvedType instanceof pbjs.Type) compareMessage(root, f.resolvedType, a, e, where, errs);
  else compareScalar(f, a, e, where, errs);
}

function compareMessage(root, type, msg, exp, where, errs) {
  if (exp === null || typeof exp !== 'object' || Array.isArray(exp)) {
    errs.push(`${where}: expected JSON is not an object`);
    return;
  }
  for (const k of Object.keys(exp)) {
    if (k === '@unpacked' && type.fullName === '.google.protobuf.Any') continue;
    if (!type.fields[k]) errs.push(`${where}.${k}: no such field in Envoy's ${type.fullName}`);
  }
  for (const f of type.fieldsArray) {
    const at = `${where}.${f.name}`;
    const has = present(f, msg);
    const want = Object.prototype.hasOwnProperty.call(exp, f.name);
    if (has !== want) {
      errs.push(`${at}: ${has ? 'present' : 'absent'} on the wire, ${want ? 'present' : 'absent'} in expected`);
      continue;
    }
    if (!has) continue;
    const a = msg[f.name];
    const e = exp[f.name];
    if (f.map) {
      const ak = Object.keys(a);
      const ek = Object.keys(e);
      if (ak.join('\0') !== ek.join('\0')) {
        errs.push(`${at}: keys ${JSON.stringify(ak)}, want ${JSON.stringify(ek)}`);
        continue;
      }
      for (const k of ek) compareValue(root, f, a[k], e[k], `${at}[${k}]`, errs);
    } else if (f.repeated) {
      if (!Array.isArray(e) || a.length !== e.length) {
        errs.push(`${at}: ${a.length} elements, want ${Array.isArray(e) ? e.length : 'not a list'}`);
        continue;
      }
      a.forEach((x, i) => compareValue(root, f, x, e[i], `${at}[${i}]`, errs));
    } else {
      compareValue(root, f, a, e, at, errs);
    }
  }
  if (type.fullName === '.google.protobuf.Any' && exp['@unpacked']) {
    const inner = anyType(root, msg.type_url);
    if (!inner) {
      errs.push(`${where}: Envoy has no type ${msg.type_url}`);
      return;
    }
    compareMessage(root, inner, inner.decode(msg.value), exp['@unpacked'],
                   `${where}<${inner.name}>`, errs);
  }
}

/* ===== encoding: expected JSON to bytes, with Envoy's definitions ===== */

// Turns expected JSON into a plain object for Type.fromObject: an Any with
// "@unpacked" gets its value encoded from it by Envoy's type.
function toObject(root, type, exp) {
  const out = {};
  for (const [k, e] of Object.entries(exp)) {
    const f = type.fields[k];
    if (!f) continue;
    const conv = (x) => (f.resolvedType instanceof pbjs.Type ? toObject(root, f.resolvedType, x) : x);
    if (f.map) out[k] = Object.fromEntries(Object.entries(e).map(([mk, mv]) => [mk, conv(mv)]));
    else if (f.repeated) out[k] = e.map(conv);
    else out[k] = conv(e);
  }
  if (type.fullName === '.google.protobuf.Any' && exp['@unpacked']) {
    const inner = anyType(root, exp.type_url);
    if (inner) {
      const obj = toObject(root, inner, exp['@unpacked']);
      out.value = inner.encode(inner.fromObject(obj)).finish();
    }
  }
  return out;
}

function checkOne(root, dir, name) {
  const type = root.lookupType(TYPES[name]);
  const cBytes = fs.readFileSync(path.join(dir, `${name}.c.bin`));
  const exp = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8'));
  const errs = [];
  let msg;
  try {
    msg = type.decode(cBytes);
  } catch (e) {
    return [`decoding C bytes with Envoy's ${type.name}: ${e.message}`];
  }
  compareMessage(root, type, msg, exp, name, errs);
  const again = Buffer.from(type.encode(msg).finish());
  if (!again.equals(cBytes)) {
    errs.push(`Envoy's re-encoding differs from C's bytes (${again.length} vs ${cBytes.length} bytes)`);
  }
  const nodeBytes = type.encode(type.fromObject(toObject(root, type, exp))).finish();
  fs.writeFileSync(path.join(dir, `${name}.node.bin`), nodeBytes);
  return errs;
}

function check(dir) {
  useRealWellKnownTypes();
  const root = envoyRoot();
  let ok = true;
  for (const name of Object.keys(TYPES)) {
    let errs;
    try {
      errs = checkOne(root, dir, name);
    } catch (e) {
      errs = [e.message];
    }
    if (errs.length) {
      ok = false;
      console.log(`FAIL ${name}: c->node: ${errs.slice(0, 5).join('; ')}` +
                  (errs.length > 5 ? ` (+${errs.length - 5} more)` : ''));
    } else {
      console.log(`ok ${name}`);
    }
  }
  return ok;
}

function main(argv) {
  if (argv[0] === 'schema') return schema();
  if (argv[0] === 'check' && argv[1]) return check(argv[1]);
  console.error('usage: node wire_test.js schema | check DIR');
  return false;
}

process.exitCode = main(process.argv.slice(2)) ? 0 : 1;
