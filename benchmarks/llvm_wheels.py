#!/usr/bin/env python3
"""Build the big case: ``llvmext`` wheels whose extension needs Debian's LLVM 14 and clang-cpp 14.

One small C++ extension, ``llvmext/_native``, calls ``clang::getClangFullVersion()`` (from
``libclang-cpp.so.14``) and prints an empty module through the LLVM C API (from
``libLLVM-14.so.1``), so a repair grafts ~290 MB of libraries. It is compiled five times with
``-DPYVER=39`` .. ``-DPYVER=313`` (different extension bytes, the same grafted libraries) and
packed as ``llvmext-1.0-cp3X-cp3X-linux_x86_64.whl``: a build farm's matrix of one project.
Only the cp311 build is compiled against this interpreter's headers for real; the other four
are tagged for their CPython but, like the real thing, are only repaired, never imported.

    python benchmarks/llvm_wheels.py [OUTDIR]   # default benchmarks/.cache/wheels

Needs g++, the Python headers, ``llvm-14-dev`` and ``libclang-cpp14-dev`` (the shell script
``build_real_wheels.sh`` installs them).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = "1.0"
PYTHONS = ("39", "310", "311", "312", "313")
LLVM = Path("/usr/lib/llvm-14")

SOURCE = r"""
#include <Python.h>
#include <cstdlib>
#include <string>
#include <llvm-c/Core.h>

namespace clang { std::string getClangFullVersion(); }  // clang/Basic/Version.h

#define STR2(x) #x
#define STR(x) STR2(x)
static const char built_for[] = "llvmext built for cp" STR(PYVER);

static PyObject *versions(PyObject *, PyObject *) {
    std::string clang = clang::getClangFullVersion();
    LLVMContextRef context = LLVMContextCreate();
    LLVMModuleRef module = LLVMModuleCreateWithNameInContext("wheelfix", context);
    char *ir = LLVMPrintModuleToString(module);
    // getenv: a direct libc call, so the extension has DT_NEEDED libc.so.6, from which
    // auditwheel tells the libc.
    const char *tag = std::getenv("LLVMEXT_TAG");
    PyObject *result = Py_BuildValue("(ssis)", clang.c_str(), ir, PYVER, tag ? tag : "");
    LLVMDisposeMessage(ir);
    LLVMDisposeModule(module);
    LLVMContextDispose(context);
    return result;
}

static PyMethodDef methods[] = {
    {"versions", versions, METH_NOARGS, built_for},
    {nullptr, nullptr, 0, nullptr},
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_native", built_for, -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&moduledef); }
"""


def compile_extension(pyver: str, workdir: Path) -> bytes:
    source = workdir / "native.cpp"
    source.write_text(SOURCE)
    output = workdir / f"native{pyver}.so"
    subprocess.run(
        [
            "g++",
            "-shared",
            "-fPIC",
            "-O2",
            f"-DPYVER={pyver}",
            f"-I{sysconfig.get_paths()['include']}",
            f"-I{LLVM / 'include'}",
            str(source),
            "-o",
            str(output),
            f"-L{LLVM / 'lib'}",
            "-lclang-cpp",
            "-lLLVM-14",
        ],
        check=True,
    )
    return output.read_bytes()


def record_row(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(outdir: Path, pyver: str, extension: bytes) -> Path:
    tag = f"cp{pyver}-cp{pyver}-linux_x86_64"
    dist_info = f"llvmext-{VERSION}.dist-info"
    soabi = f"cpython-{pyver}-x86_64-linux-gnu"
    members = {
        "llvmext/__init__.py": b'"""A tiny extension linked against LLVM 14 and clang-cpp 14."""\n',
        f"llvmext/_native.{soabi}.so": extension,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: llvmext\nVersion: {VERSION}\n".encode(),
        f"{dist_info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: llvm_wheels.py\nRoot-Is-Purelib: false\nTag: {tag}\n"
        ).encode(),
    }
    rows = [record_row(name, data) for name, data in members.items()]
    record = "\n".join([*rows, f"{dist_info}/RECORD,,"]) + "\n"
    path = outdir / f"llvmext-{VERSION}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name.endswith(".so") else 0o100644) << 16
            zf.writestr(info, data, zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo(f"{dist_info}/RECORD", (1980, 1, 1, 0, 0, 0)), record)
    return path


def main(argv: list[str]) -> int:
    outdir = Path(argv[0]) if argv else HERE / ".cache" / "wheels"
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for pyver in PYTHONS:
            path = write_wheel(outdir, pyver, compile_extension(pyver, Path(tmp)))
            print(f"built {path.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
