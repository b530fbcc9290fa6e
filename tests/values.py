"""Stage values built by hand: ElfInfo, ScannedElf, ResolvedLibrary, ElfTree, ScanResult, Audit.

The pure stages (policy, target, graft, report, libc) take these frozen dataclasses and nothing
else, so their tests build them here from plain values: no files, no LIEF. Every builder
defaults to an x86_64 glibc extension that needs only ``libc.so.6`` at ``GLIBC_2.2.5``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from wheelfix.elf import ElfHeader, ElfInfo, Soname
from wheelfix.ldpaths import SearchPaths
from wheelfix.libc import Libc
from wheelfix.policy import policy_set
from wheelfix.policy.evaluate import Verdict, evaluate
from wheelfix.resolve import ElfTree, ResolvedLibrary
from wheelfix.results import Audit
from wheelfix.scan import ScannedElf, ScanResult
from wheelfix.wheel import Member, MemberPath, parse_wheel_name

__all__ = [
    "EXT",
    "HEADER",
    "HEADER_AARCH64",
    "LIBC",
    "WHEEL",
    "audit_of",
    "elf_info",
    "evaluated",
    "host_lib",
    "scan_of",
    "scanned_elf",
    "tree_of",
    "wheel_lib",
]

HEADER = ElfHeader(elf_class=64, little_endian=True, osabi=0, file_type=3, machine=62, flags=0)
"""An x86_64 shared object."""
HEADER_AARCH64 = ElfHeader(
    elf_class=64, little_endian=True, osabi=0, file_type=3, machine=183, flags=0
)
"""An aarch64 shared object."""
EXT = "pkg/_ext.cpython-311-x86_64-linux-gnu.so"
"""The default extension member (its init symbol is ``PyInit__ext``)."""
WHEEL = "demo-1.0-cp311-cp311-linux_x86_64.whl"
"""The default wheel file name."""


def elf_info(
    needed: Iterable[str] = ("libc.so.6",),
    *,
    undefined: Iterable[str] = (),
    versions: Mapping[str, Iterable[str]] | None = None,
    isa: int = 0,
    pyfpe: bool = False,
    ucs2: bool = False,
    header: ElfHeader = HEADER,
    interpreter: str | None = None,
    soname: str | None = None,
    rpath: Iterable[str] = (),
    runpath: Iterable[str] = (),
) -> ElfInfo:
    """An ElfInfo; ``versions`` defaults to ``{"libc.so.6": ["GLIBC_2.2.5"]}``."""
    return ElfInfo(
        header=header,
        interpreter=interpreter,
        needed=tuple(Soname(n) for n in needed),
        soname=Soname(soname) if soname is not None else None,
        rpath=tuple(rpath),
        runpath=tuple(runpath),
        version_requirements=tuple(
            (Soname(lib), tuple(v))
            for lib, v in (
                versions if versions is not None else {"libc.so.6": ["GLIBC_2.2.5"]}
            ).items()
        ),
        version_definitions=(),
        undefined_symbols=frozenset(undefined),
        init_symbols=frozenset({"PyInit__ext"}),
        uses_pyfpe=pyfpe,
        uses_ucs2=ucs2,
        x86_isa_needed=isa,
    )


def scanned_elf(
    path: str, info: ElfInfo, *, install_path: str | None = None, scheme: str = "platlib"
) -> ScannedElf:
    """A wheel member holding ``info``; installed at ``path`` unless ``install_path`` says."""
    member = Member(
        path=MemberPath(path),
        size=4096,
        mode=0o755,
        install_path=PurePosixPath(install_path if install_path is not None else path),
        scheme=scheme,
    )
    return ScannedElf(member=member, info=info, python_version=info.python_extension_version(path))


def host_lib(
    name: str, info: ElfInfo | None = None, *, via: str = "system", path: str | None = None
) -> ResolvedLibrary:
    """A library resolved on the host, at ``/usr/lib/<name>`` unless ``path`` says."""
    return ResolvedLibrary(
        Soname(name), Path(path or f"/usr/lib/{name}"), None, info or elf_info(()), via
    )


def wheel_lib(name: str, elf: ScannedElf, *, via: str = "rpath") -> ResolvedLibrary:
    """A library that resolved to a member of the wheel."""
    return ResolvedLibrary(Soname(name), None, elf.path, elf.info, via)


LIBC = host_lib("libc.so.6", elf_info(("ld-linux-x86-64.so.2",)))
"""glibc itself, as the resolver finds it."""


def tree_of(
    root: ScannedElf,
    libraries: Iterable[ResolvedLibrary] = (LIBC,),
    *,
    excluded: Iterable[str] = (),
    excluded_dirs: Mapping[str, str] | None = None,
) -> ElfTree:
    """The resolved tree of ``root``: ``libraries`` keyed by the name each was asked for."""
    return ElfTree(
        root=root,
        libraries={lib.soname: lib for lib in libraries},
        excluded=frozenset(Soname(n) for n in excluded),
        excluded_dirs={Soname(k): v for k, v in (excluded_dirs or {}).items()},
    )


def scan_of(
    elves: Iterable[ScannedElf],
    *,
    wheel: str = WHEEL,
    arch: str = "x86_64",
    libc: Libc = Libc.GLIBC,
) -> ScanResult:
    """The scan of a wheel named ``wheel`` holding ``elves``."""
    return ScanResult(
        wheel=Path(wheel),
        name=parse_wheel_name(Path(wheel)),
        arch=arch,
        libc=libc,
        libc_guessed=False,
        elves=tuple(sorted(elves, key=lambda e: e.path)),
        ignored=(),
    )


def audit_of(
    trees: Iterable[ElfTree],
    *,
    wheel: str = WHEEL,
    arch: str = "x86_64",
    libc: Libc = Libc.GLIBC,
    disable_isa: bool = False,
) -> Audit:
    """The whole audit of a wheel whose ELF members are the roots of ``trees``."""
    by_path = {tree.root.path: tree for tree in trees}
    scan = scan_of((t.root for t in by_path.values()), wheel=wheel, arch=arch, libc=libc)
    verdict = evaluate(scan, by_path, policy_set(libc, arch), disable_isa_ext_check=disable_isa)
    return Audit(scan=scan, paths=SearchPaths(env=(), system=()), trees=by_path, verdict=verdict)


def evaluated(
    root: ElfInfo,
    libraries: Iterable[ResolvedLibrary] = (LIBC,),
    *,
    arch: str = "x86_64",
    disable_isa: bool = False,
    extra: Iterable[ScannedElf] = (),
) -> Verdict:
    """The verdict for one extension :data:`EXT` with ``root``'s info, resolved to
    ``libraries``; ``extra`` members of the wheel get empty trees."""
    elf = scanned_elf(EXT, root)
    trees = [tree_of(elf, libraries), *(tree_of(other, ()) for other in extra)]
    return audit_of(
        trees, wheel=f"demo-1.0-cp311-cp311-linux_{arch}.whl", arch=arch, disable_isa=disable_isa
    ).verdict
