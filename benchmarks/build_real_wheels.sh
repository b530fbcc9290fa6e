#!/usr/bin/env bash
# Build linux_x86_64 wheels of PyYAML, lxml, Pillow and h5py from their sdists,
# linked against Debian's shared libraries, the five llvmext wheels (cp39..cp313,
# an extension linked against Debian's LLVM 14 and clang-cpp 14: llvm_wheels.py),
# plus fetch the manylinux numpy and scipy wheels (for show). Everything lands in
# benchmarks/.cache/wheels/ (gitignored); wheels already there are reused, so a
# second run is a no-op.
#
# Usage: bash benchmarks/build_real_wheels.sh [--force]
#   PYTHON=python3.12 bash benchmarks/build_real_wheels.sh   # another interpreter
#
# Needs root (or sudo-less apt) only when a Debian -dev package is missing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${HERE}/.cache"
WHEELS="${CACHE}/wheels"
PYTHON="${PYTHON:-python}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

PYYAML_VERSION="${PYYAML_VERSION:-6.0.2}"
LXML_VERSION="${LXML_VERSION:-5.3.0}"
PILLOW_VERSION="${PILLOW_VERSION:-11.3.0}"
H5PY_VERSION="${H5PY_VERSION:-3.14.0}"
NUMPY_VERSION="${NUMPY_VERSION:-2.2.6}"
SCIPY_VERSION="${SCIPY_VERSION:-1.15.3}"
# Debian's serial HDF5 (libhdf5-dev): include/ and lib/ of the serial flavour.
HDF5_DIR="${HDF5_DIR:-/usr/lib/x86_64-linux-gnu/hdf5/serial}"

DEB_PACKAGES=(
    libyaml-dev libxml2-dev libxslt1-dev libjpeg-dev zlib1g-dev libpng-dev
    libtiff-dev libfreetype-dev libwebp-dev liblcms2-dev libhdf5-dev pkg-config
    g++ llvm-14-dev libclang-cpp14-dev unzip
)

log() { printf '[build_real_wheels] %s\n' "$*" >&2; }

install_debian_packages() {
    local missing=()
    local pkg
    for pkg in "${DEB_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("${pkg}")
        fi
    done
    if ((${#missing[@]} == 0)); then
        log "Debian dev packages already installed"
        return
    fi
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    [[ "$(id -u)" != 0 ]] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
}

# have_wheel <glob>: true when a wheel matching the glob is cached.
have_wheel() {
    ((FORCE == 0)) && compgen -G "${WHEELS}/$1" >/dev/null
}

build_sdist_wheel() {
    local dist="$1" version="$2" glob="$3"
    shift 3
    if have_wheel "${glob}"; then
        log "cached: $(basename "$(compgen -G "${WHEELS}/${glob}" | head -1)")"
        return
    fi
    rm -f "${WHEELS}"/${glob}
    log "building ${dist}==${version} from its sdist (build isolation on)"
    local start=${SECONDS}
    env "$@" "${PYTHON}" -m pip wheel --no-deps --no-binary "${dist}" \
        --no-cache-dir "${dist}==${version}" -w "${WHEELS}" >"${CACHE}/build-${dist}.log" 2>&1 || {
        tail -40 "${CACHE}/build-${dist}.log" >&2
        log "building ${dist} failed; full log: ${CACHE}/build-${dist}.log"
        exit 1
    }
    log "built ${dist} in $((SECONDS - start)) s"
}

# download_wheel <dist> <version>: fetch the dist's manylinux wheel for this
# interpreter from PyPI (used for show only: it needs no repair).
download_wheel() {
    local dist="$1" version="$2"
    local glob="${dist}-${version}-*manylinux*.whl"
    if have_wheel "${glob}"; then
        log "cached: $(basename "$(compgen -G "${WHEELS}/${glob}" | head -1)")"
        return
    fi
    log "downloading ${dist}==${version} (manylinux wheel, for show)"
    "${PYTHON}" -m pip download --no-deps --only-binary :all: \
        "${dist}==${version}" -d "${WHEELS}" >"${CACHE}/download-${dist}.log" 2>&1 || {
        cat "${CACHE}/download-${dist}.log" >&2
        log "downloading ${dist} failed"
        exit 1
    }
    compgen -G "${WHEELS}/${glob}" >/dev/null || {
        log "no manylinux wheel of ${dist}==${version}: see ${CACHE}/download-${dist}.log"
        exit 1
    }
}

# check_needed <wheel glob> <member regex> <soname>: the wheel's extension
# must list <soname> in DT_NEEDED, otherwise the sdist fell back to a pure or
# vendored build and the benchmark would measure nothing.
check_needed() {
    local glob="$1" member="$2" soname="$3"
    "${PYTHON}" - "${WHEELS}" "${glob}" "${member}" "${soname}" <<'EOF'
import glob, os, re, subprocess, sys, tempfile, zipfile
wheels, pattern, member, soname = sys.argv[1:]
(whl,) = glob.glob(os.path.join(wheels, pattern))
with zipfile.ZipFile(whl) as zf, tempfile.TemporaryDirectory() as tmp:
    names = [n for n in zf.namelist() if re.search(member, n)]
    if not names:
        sys.exit(f"{os.path.basename(whl)}: no member matches {member!r}")
    for name in names:
        path = zf.extract(name, tmp)
        dyn = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
        if f"[{soname}]" in dyn:
            print(f"ok: {os.path.basename(whl)}:{name} needs {soname}")
            break
    else:
        sys.exit(f"{os.path.basename(whl)}: {names} do not need {soname}")
EOF
}

main() {
    mkdir -p "${WHEELS}"
    install_debian_packages

    # PyYAML builds its _yaml extension (Cython, run by the isolated build)
    # when yaml.h / libyaml.so are found; PYYAML_FORCE_LIBYAML makes a
    # missing libyaml an error instead of a silent pure-Python wheel.
    build_sdist_wheel pyyaml "${PYYAML_VERSION}" '[Pp]y[Yy][Aa][Mm][Ll]-*-linux_x86_64.whl' PYYAML_FORCE_LIBYAML=1
    # lxml links dynamically against libxml2/libxslt/libexslt found by xslt-config.
    build_sdist_wheel lxml "${LXML_VERSION}" 'lxml-*-linux_x86_64.whl' STATIC_DEPS=false
    # Pillow: zlib and jpeg are required; tiff/freetype/webp/lcms2 are picked up when present.
    build_sdist_wheel pillow "${PILLOW_VERSION}" '[Pp]illow-*-linux_x86_64.whl' MAX_CONCURRENCY=2

    # h5py links libhdf5 (+ libhdf5_hl) of Debian's serial flavour, found via HDF5_DIR;
    # numpy (>= 2) and Cython come from the isolated build.
    build_sdist_wheel h5py "${H5PY_VERSION}" 'h5py-*-linux_x86_64.whl' "HDF5_DIR=${HDF5_DIR}"

    download_wheel numpy "${NUMPY_VERSION}"
    download_wheel scipy "${SCIPY_VERSION}"

    if ! have_wheel "llvmext-*-cp313-cp313-linux_x86_64.whl"; then
        log "building the llvmext wheels (cp39..cp313, linked against LLVM 14 and clang-cpp 14)"
        "${PYTHON}" "${HERE}/llvm_wheels.py" "${WHEELS}"
    fi

    check_needed '[Pp]y[Yy][Aa][Mm][Ll]-*-linux_x86_64.whl' '_yaml.*\.so$' libyaml-0.so.2
    check_needed 'lxml-*-linux_x86_64.whl' 'etree.*\.so$' libxslt.so.1
    check_needed '[Pp]illow-*-linux_x86_64.whl' '_imaging\..*\.so$' libjpeg.so.62
    check_needed 'h5py-*-linux_x86_64.whl' 'h5py/defs\..*\.so$' libhdf5_serial.so.103
    check_needed 'llvmext-*-cp311-cp311-linux_x86_64.whl' '_native.*\.so$' libLLVM-14.so.1
    check_needed 'llvmext-*-cp311-cp311-linux_x86_64.whl' '_native.*\.so$' libclang-cpp.so.14

    ls -l "${WHEELS}"
}

main "$@"
