"""c_proto_library: .proto files to a cc_library with protoc-c.

All our .proto files live under one package (api/proto), so imports between
them resolve against that package's directory; Google's well-known types come
from /usr/include (libprotobuf-dev) and are compiled the same way through
`system_srcs`.
"""

_SYSTEM_PROTO_DIR = "/usr/include"

def _outs(protos):
    srcs = [p[:-len(".proto")] + ".pb-c.c" for p in protos]
    hdrs = [p[:-len(".proto")] + ".pb-c.h" for p in protos]
    return srcs, hdrs

def _local(deps):
    return [d for d in deps if d.startswith(":")]

def c_proto_library(name, srcs = [], system_srcs = [], deps = [], **kw):
    """Compiles srcs (in this package) and system_srcs (paths under
    /usr/include, e.g. "google/protobuf/any.proto") with protoc-c.

    deps are other c_proto_library targets of this package (":name") or
    cc_library labels; the .proto files of the former (transitively) are
    given to protoc-c so that imports between our protos resolve.
    Generated headers are included by their proto path, e.g.
    #include "envoy/config/core/v3/base.pb-c.h".
    """
    pkg = native.package_name()

    # This target's .proto files and those of its deps, for importers.
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [d + "_protos" for d in _local(deps)],
    )
    c_srcs, c_hdrs = _outs(srcs + system_srcs)
    cmd = "protoc-c"
    if srcs:
        cmd += " --proto_path=%s" % (pkg or ".")
    cmd += " --proto_path=%s --c_out=$(RULEDIR)" % _SYSTEM_PROTO_DIR
    cmd += "".join([" %s/%s" % (pkg, s) if pkg else " " + s for s in srcs])
    cmd += "".join([" %s/%s" % (_SYSTEM_PROTO_DIR, s) for s in system_srcs])
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_protos" for d in _local(deps)],
        outs = c_srcs + c_hdrs,
        cmd = cmd,
        message = "protoc-c %s" % name,
    )
    native.cc_library(
        name = name,
        srcs = c_srcs,
        hdrs = c_hdrs,
        includes = ["."],
        copts = ["-Wno-unused-parameter", "-Wno-missing-field-initializers"],
        deps = deps + ["//bazel:protobuf_c"],
        **kw
    )
