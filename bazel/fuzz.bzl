"""cc_fuzz: a libFuzzer target (LLVMFuzzerTestOneInput) beside the code.

Fuzz targets are tagged manual: `bazel test //...` (gcc) skips them, and
tools/fuzz.sh builds them with clang-14 under --config=fuzz and runs each for
a bounded time on its seed corpus (testdata/<name>/ next to the BUILD file).
"""

def cc_fuzz(name, srcs, deps = [], **kw):
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps,
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual", "fuzz"],
        **kw
    )
