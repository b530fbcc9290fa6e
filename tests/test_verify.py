"""Tests for wheelfix.verify: real gcc-built ELF files, good and deliberately broken.

Every broken copy is made by parsing the real file's headers here (with struct)
and overwriting exactly one field, then asserting which rule fires.
"""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from wheelfix.elf.structs import page_size_for as page_size_for_machine
from wheelfix.elf.verify import Violation, describe, verify_elf

PT_LOAD, PT_DYNAMIC, PT_NOTE, PT_PHDR = 1, 2, 4, 6
PT_GNU_STACK, PT_GNU_RELRO = 0x6474E551, 0x6474E552
PF_X, PF_W, PF_R = 1, 2, 4
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_DEBUG, DT_RUNPATH = 0, 1, 5, 10, 14, 21, 29
DT_VERSYM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFF0, 0x6FFFFFFE, 0x6FFFFFFF

PHDR_LAYOUT = {
    True: ("IIQQQQQQ", ("type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align")),
    False: ("IIIIIIII", ("type", "offset", "vaddr", "paddr", "filesz", "memsz", "flags", "align")),
}
EHDR_LAYOUT = {True: "HHIQQQIHHHHHH", False: "HHIIIIIHHHHHH"}


def align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


# --------------------------------------------------------------------------- a tiny ELF editor


class Elf:
    """Just enough ELF parsing to find the bytes a test wants to break."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.is64 = data[4] == 2
        self.bo = "<" if data[5] == 1 else ">"
        hdr = struct.unpack_from(self.bo + EHDR_LAYOUT[self.is64], data, 16)
        self.e_machine, self.e_phoff, self.e_phentsize, self.e_phnum = (
            hdr[1],
            hdr[4],
            hdr[8],
            hdr[9],
        )

    def get(self, fmt: str, at: int) -> tuple[int, ...]:
        return struct.unpack_from(self.bo + fmt, self.data, at)

    def put(self, fmt: str, at: int, *values: int) -> None:
        struct.pack_into(self.bo + fmt, self.data, at, *values)

    # program headers
    def phdrs(self) -> list[dict[str, int]]:
        fmt, names = PHDR_LAYOUT[self.is64]
        out = []
        for i in range(self.e_phnum):
            at = self.e_phoff + i * self.e_phentsize
            ph = dict(zip(names, self.get(fmt, at)))
            ph["index"], ph["at"] = i, at
            out.append(ph)
        return out

    def of_type(self, p_type: int) -> list[dict[str, int]]:
        return [ph for ph in self.phdrs() if ph["type"] == p_type]

    def loads(self) -> list[dict[str, int]]:
        return self.of_type(PT_LOAD)

    def set_phdr(self, ph: dict[str, int], field: str, value: int) -> None:
        fmt, names = PHDR_LAYOUT[self.is64]
        i = names.index(field)
        self.put(fmt[i], ph["at"] + struct.calcsize("<" + fmt[:i]), value)

    def far_address(self) -> int:
        """An address well past every PT_LOAD (and still a valid ELF32 address)."""
        end = max(ph["vaddr"] + ph["memsz"] for ph in self.loads())
        return align_up(end, 0x100000) + 0x100000

    def to_offset(self, addr: int) -> int:
        for ph in self.loads():
            if ph["vaddr"] <= addr < ph["vaddr"] + ph["filesz"]:
                return ph["offset"] + addr - ph["vaddr"]
        raise AssertionError(f"0x{addr:x} is not file-backed")

    # dynamic section
    @property
    def dyn_fmt(self) -> str:
        return "QQ" if self.is64 else "II"

    def dynamic(self, *, through_end: bool = False) -> list[tuple[int, int, int]]:
        """(tag, value, file offset) up to and including DT_NULL, or the whole segment."""
        seg = self.of_type(PT_DYNAMIC)[0]
        size = struct.calcsize("<" + self.dyn_fmt)
        out = []
        for at in range(seg["offset"], seg["offset"] + seg["filesz"], size):
            tag, value = self.get(self.dyn_fmt, at)
            out.append((tag, value, at))
            if tag == DT_NULL and not through_end:
                break
        return out

    def dyn(self, tag: int) -> tuple[int, int]:
        """(value, file offset) of the first entry with this tag."""
        for t, value, at in self.dynamic():
            if t == tag:
                return value, at
        raise AssertionError(f"no dynamic tag 0x{tag:x}")

    def set_dyn(self, tag: int, value: int) -> None:
        _, at = self.dyn(tag)
        self.put(self.dyn_fmt[1], at + struct.calcsize("<" + self.dyn_fmt[0]), value)

    def string(self, offset: int) -> bytes:
        start = self.to_offset(self.dyn(DT_STRTAB)[0]) + offset
        return bytes(self.data[start : self.data.index(b"\0", start)])

    # version needs: [(verneed offset, [vernaux offsets])]
    def verneed(self) -> list[tuple[int, list[int]]]:
        at = self.to_offset(self.dyn(DT_VERNEED)[0])
        out = []
        while True:
            _, _, _, vn_aux, vn_next = self.get("HHIII", at)
            auxes, aux = [], at + vn_aux
            while True:
                auxes.append(aux)
                vna_next = self.get("IHHII", aux)[4]
                if vna_next == 0:
                    break
                aux += vna_next
            out.append((at, auxes))
            if vn_next == 0:
                return out
            at += vn_next

    # notes: file offsets of every note header
    def note_headers(self) -> list[int]:
        out = []
        for seg in self.of_type(PT_NOTE):
            align = 8 if seg["align"] == 8 else 4
            pos, end = seg["offset"], seg["offset"] + seg["filesz"]
            while pos < end:
                out.append(pos)
                namesz, descsz, _ = self.get("III", pos)
                pos += align_up(align_up(12 + namesz, align) + descsz, align)
        return out


def to_big_endian(data: bytes) -> bytes:
    """Byte-swap every structure the verifier reads, turning an LSB file into MSB."""
    src = Elf(data)
    assert src.bo == "<"
    out = bytearray(data)
    out[5] = 2  # ELFDATA2MSB

    def swap(fmt: str, at: int) -> None:
        struct.pack_into(">" + fmt, out, at, *struct.unpack_from("<" + fmt, data, at))

    swap(EHDR_LAYOUT[src.is64], 16)
    for ph in src.phdrs():
        swap(PHDR_LAYOUT[src.is64][0], ph["at"])
    for _, _, at in src.dynamic(through_end=True):
        swap(src.dyn_fmt, at)
    for vn, auxes in src.verneed():
        swap("HHIII", vn)
        for aux in auxes:
            swap("IHHII", aux)
    for at in src.note_headers():
        swap("III", at)
    return bytes(out)


# --------------------------------------------------------------------------- building real files

SHARED_C = '#include <stdio.h>\nint f(void) { return puts("hi"); }\n'
PIE_C = '#include <stdio.h>\nint main(void) { return puts("hi"); }\n'
DEP_C = "int g1(void) { return 1; }\nint g2(void) { return 2; }\n"
DEP_MAP = "DEP_1.0 { global: g1; local: *; };\nDEP_2.0 { global: g2; } DEP_1.0;\n"
MAIN_C = "int g1(void);\nint g2(void);\nint f(void) { return g1() + g2(); }\n"


def gcc(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["gcc", *args], cwd=workdir, capture_output=True, text=True, check=False)


def build_versioned_pair(workdir: Path, bits: int) -> bytes:
    """libmainNN.so needing libdepNN.so at versions DEP_1.0 and DEP_2.0, no libc."""
    base = [f"-m{bits}", "-shared", "-fPIC", "-nostdlib"]
    dep = gcc(
        workdir,
        *base,
        "-Wl,--version-script=dep.map",
        f"-Wl,-soname,libdep{bits}.so",
        "dep.c",
        "-o",
        f"libdep{bits}.so",
    )
    if dep.returncode:
        pytest.fail(dep.stderr)
    main = gcc(
        workdir,
        *base,
        f"-Wl,-soname,libmain{bits}.so",
        "-Wl,-rpath,$ORIGIN/lib",
        "main.c",
        "-L.",
        f"-ldep{bits}",
        "-o",
        f"libmain{bits}.so",
    )
    if main.returncode:
        pytest.fail(main.stderr)
    return (workdir / f"libmain{bits}.so").read_bytes()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not available")
    work = tmp_path_factory.mktemp("verify_elf")
    for name, text in {
        "lib.c": SHARED_C,
        "pie.c": PIE_C,
        "dep.c": DEP_C,
        "dep.map": DEP_MAP,
        "main.c": MAIN_C,
    }.items():
        (work / name).write_text(text)
    recipes = {
        "lib64": [
            "-shared",
            "-fPIC",
            "-Wl,-soname,libvtest.so.1",
            "-Wl,-rpath,$ORIGIN/x",
            "lib.c",
            "-o",
            "lib64.so",
        ],
        "lib64k": ["-shared", "-fPIC", "-Wl,-z,max-page-size=0x10000", "lib.c", "-o", "lib64k.so"],
        "pie64": ["-fPIE", "-pie", "-Wl,-rpath,$ORIGIN", "pie.c", "-o", "pie64"],
    }
    out: dict[str, bytes] = {}
    for name, args in recipes.items():
        done = gcc(work, *args)
        if done.returncode:
            pytest.fail(done.stderr)
        out[name] = (work / args[-1]).read_bytes()
    out["dep64"] = build_versioned_pair(work, 64)
    probe = gcc(work, "-m32", "-shared", "-fPIC", "-nostdlib", "dep.c", "-o", "probe32.so")
    if probe.returncode == 0:
        out["lib32"] = build_versioned_pair(work, 32)
        out["lib32-be"] = to_big_endian(out["lib32"])
    out["lib64-be"] = to_big_endian(out["lib64"])
    out["pie64-be"] = to_big_endian(out["pie64"])
    return out


def flavor(built: dict[str, bytes], name: str) -> bytes:
    if name not in built:
        pytest.skip(f"{name}: gcc -m32 cannot link here")
    return built[name]


def rules(violations: tuple[Violation, ...]) -> set[str]:
    return {v.rule for v in violations}


LIB_FLAVORS = ["lib64", "dep64", "lib32", "lib64-be", "lib32-be"]
PIE_FLAVORS = ["pie64", "pie64-be"]
ALL_FLAVORS = [*LIB_FLAVORS, *PIE_FLAVORS, "lib64k"]


# --------------------------------------------------------------------------- good files

SYSTEM_FILES = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libm.so.6",
    "/usr/bin/ls",
    "/usr/libexec/valgrind/vgpreload_memcheck-x86-linux.so",  # ELF32, if valgrind is installed
]


@pytest.mark.parametrize("path", SYSTEM_FILES)
def test_system_files_pass(path: str) -> None:
    if not Path(path).is_file():
        pytest.skip(f"{path} not present")
    assert verify_elf(Path(path).read_bytes()) == ()


@pytest.mark.parametrize("name", ALL_FLAVORS)
def test_gcc_built_files_pass(built: dict[str, bytes], name: str) -> None:
    assert verify_elf(flavor(built, name)) == ()


def test_big_endian_conversion_is_real(built: dict[str, bytes]) -> None:
    be = Elf(built["lib64-be"])
    assert be.bo == ">"
    assert be.string(be.dyn(DT_NEEDED)[0]) == b"libc.so.6"
    assert len(be.verneed()) == 1


def test_fixture_files_have_what_the_breakages_need(built: dict[str, bytes]) -> None:
    for name in LIB_FLAVORS + PIE_FLAVORS:
        if name not in built:
            continue
        elf = Elf(built[name])
        assert elf.of_type(PT_DYNAMIC)
        assert elf.of_type(PT_GNU_RELRO)
        assert elf.note_headers()
        assert elf.verneed()
        assert elf.dyn(DT_RUNPATH)
        if name in PIE_FLAVORS:
            assert elf.of_type(PT_PHDR)
        else:
            assert elf.dyn(DT_SONAME)


# --------------------------------------------------------------------------- broken files


def text_load(elf: Elf) -> dict[str, int]:
    """The executable PT_LOAD: nothing the verifier reads through addresses lives there."""
    (ph,) = [ph for ph in elf.loads() if ph["flags"] & PF_X]
    return ph


def dynamic_host(elf: Elf) -> dict[str, int]:
    dyn = elf.of_type(PT_DYNAMIC)[0]
    (ph,) = [ph for ph in elf.loads() if ph["vaddr"] <= dyn["vaddr"] < ph["vaddr"] + ph["memsz"]]
    return ph


def misalign_load(elf: Elf) -> None:
    ph = text_load(elf)
    elf.set_phdr(ph, "offset", ph["offset"] + 0x10)


def load_past_eof(elf: Elf) -> None:
    ph = text_load(elf)
    elf.set_phdr(ph, "offset", align_up(len(elf.data), ph["align"]) + ph["vaddr"] % ph["align"])


def filesz_over_memsz(elf: Elf) -> None:
    ph = text_load(elf)
    elf.set_phdr(ph, "memsz", ph["filesz"] - 1)


def loads_out_of_order(elf: Elf) -> None:
    first, second = elf.loads()[1:3]
    a, b = first["at"], second["at"]
    size = elf.e_phentsize
    elf.data[a : a + size], elf.data[b : b + size] = elf.data[b : b + size], elf.data[a : a + size]


def dynamic_read_only(elf: Elf) -> None:
    ph = dynamic_host(elf)
    elf.set_phdr(ph, "flags", ph["flags"] & ~PF_W)


def dynamic_read_only_on_mips(elf: Elf) -> None:
    dynamic_read_only(elf)
    elf.put("H", 18, 8)  # e_machine = EM_MIPS, whose .dynamic is read-only by design


def dynamic_past_eof(elf: Elf) -> None:
    elf.set_phdr(elf.of_type(PT_DYNAMIC)[0], "offset", len(elf.data))


def relro_outside_loads(elf: Elf) -> None:
    elf.set_phdr(elf.of_type(PT_GNU_RELRO)[0], "vaddr", elf.far_address())


def relro_padded_to_page_end(elf: Elf) -> None:
    """What lld emits: PT_GNU_RELRO p_memsz runs to the page end, past its PT_LOAD."""
    relro = elf.of_type(PT_GNU_RELRO)[0]
    host = [ph for ph in elf.loads() if ph["vaddr"] <= relro["vaddr"] < ph["vaddr"] + ph["memsz"]]
    end = align_up(host[0]["vaddr"] + host[0]["memsz"], 0x1000)
    elf.set_phdr(relro, "memsz", end - relro["vaddr"])


def relro_past_page_end(elf: Elf) -> None:
    relro_padded_to_page_end(elf)
    relro = elf.of_type(PT_GNU_RELRO)[0]
    elf.set_phdr(relro, "memsz", relro["memsz"] + 0x1000)


def no_dt_null(elf: Elf) -> None:
    for tag, _, at in elf.dynamic(through_end=True):
        if tag == DT_NULL:
            elf.put(elf.dyn_fmt, at, DT_DEBUG, 0)


def strtab_unmapped(elf: Elf) -> None:
    elf.set_dyn(DT_STRTAB, elf.far_address())


def versym_unmapped(elf: Elf) -> None:
    elf.set_dyn(DT_VERSYM, elf.far_address())


def needed_past_strsz(elf: Elf) -> None:
    elf.set_dyn(DT_NEEDED, elf.dyn(DT_STRSZ)[0])


def runpath_past_strsz(elf: Elf) -> None:
    elf.set_dyn(DT_RUNPATH, elf.dyn(DT_STRSZ)[0] + 7)


def strsz_cuts_last_string(elf: Elf) -> None:
    """DT_STRSZ one short: the final string loses its NUL."""
    elf.set_dyn(DT_STRSZ, elf.dyn(DT_STRSZ)[0] - 1)


def vn_file_is_soname(elf: Elf) -> None:
    vn, _ = elf.verneed()[0]
    elf.put("I", vn + 4, elf.dyn(DT_SONAME)[0])


def vna_name_past_strsz(elf: Elf) -> None:
    _, auxes = elf.verneed()[0]
    elf.put("I", auxes[0] + 8, elf.dyn(DT_STRSZ)[0] + 5)


def verneednum_mismatch(elf: Elf) -> None:
    elf.set_dyn(DT_VERNEEDNUM, 5)


def vn_version_bad(elf: Elf) -> None:
    vn, _ = elf.verneed()[0]
    elf.put("H", vn, 2)


def vn_aux_unmapped(elf: Elf) -> None:
    vn, _ = elf.verneed()[0]
    elf.put("I", vn + 8, 0x7FFFFFF0)


def vn_cnt_wrong(elf: Elf) -> None:
    vn, auxes = elf.verneed()[0]
    elf.put("H", vn + 2, len(auxes) + 1)


def note_bad_namesz(elf: Elf) -> None:
    elf.put("I", elf.note_headers()[0], 0x1000)


def note_past_eof(elf: Elf) -> None:
    elf.set_phdr(elf.of_type(PT_NOTE)[0], "offset", len(elf.data) - 4)


def phdr_uncovered(elf: Elf) -> None:
    elf.set_phdr(elf.of_type(PT_PHDR)[0], "vaddr", elf.far_address())


def phdr_wrong_place(elf: Elf) -> None:
    ph = elf.of_type(PT_PHDR)[0]
    elf.set_phdr(ph, "vaddr", ph["vaddr"] + 8)


@dataclass(frozen=True)
class Breakage:
    name: str
    mutate: Callable[[Elf], None]
    expected: frozenset[str]


def case(name: str, mutate: Callable[[Elf], None], *expected: str) -> Breakage:
    return Breakage(name, mutate, frozenset(expected))


LIB_BREAKAGES = [
    case("misaligned-load", misalign_load, "load-alignment"),
    case("load-past-eof", load_past_eof, "load-in-file"),
    case("filesz-over-memsz", filesz_over_memsz, "load-filesz"),
    case("loads-out-of-order", loads_out_of_order, "load-order"),
    case("dynamic-read-only", dynamic_read_only, "dynamic-in-writable-load"),
    case("dynamic-read-only-mips", dynamic_read_only_on_mips),
    case("dynamic-past-eof", dynamic_past_eof, "dynamic-in-writable-load"),
    case("no-dt-null", no_dt_null, "dynamic-parse"),
    case("relro-outside-loads", relro_outside_loads, "relro-in-load"),
    case("relro-padded-like-lld", relro_padded_to_page_end),
    case("relro-past-page-end", relro_past_page_end, "relro-in-load"),
    case("strtab-unmapped", strtab_unmapped, "dyn-address-mapped"),
    case("versym-unmapped", versym_unmapped, "dyn-address-mapped"),
    case("needed-past-strsz", needed_past_strsz, "string-offset"),
    case("runpath-past-strsz", runpath_past_strsz, "string-offset"),
    case("strsz-cuts-last-string", strsz_cuts_last_string, "string-offset"),
    case("vn-file-is-soname", vn_file_is_soname, "verneed-file-needed"),
    case("vna-name-past-strsz", vna_name_past_strsz, "string-offset"),
    case("verneednum-mismatch", verneednum_mismatch, "verneed-parse"),
    case("vn-version-bad", vn_version_bad, "verneed-parse"),
    case("vn-aux-unmapped", vn_aux_unmapped, "verneed-parse"),
    case("vn-cnt-wrong", vn_cnt_wrong, "verneed-parse"),
    case("note-bad-namesz", note_bad_namesz, "note-parse"),
    case("note-past-eof", note_past_eof, "note-parse"),
]
PIE_BREAKAGES = [
    case("phdr-uncovered", phdr_uncovered, "phdr-covered"),
    case("phdr-wrong-place", phdr_wrong_place, "phdr-covered"),
    case("misaligned-load", misalign_load, "load-alignment"),
    case("dynamic-read-only", dynamic_read_only, "dynamic-in-writable-load"),
    case("relro-outside-loads", relro_outside_loads, "relro-in-load"),
    case("needed-past-strsz", needed_past_strsz, "string-offset"),
    case("note-bad-namesz", note_bad_namesz, "note-parse"),
]


def broken(data: bytes, mutate: Callable[[Elf], None]) -> bytes:
    elf = Elf(data)
    mutate(elf)
    assert bytes(elf.data) != data or mutate is no_change
    return bytes(elf.data)


def no_change(elf: Elf) -> None:
    del elf


@pytest.mark.parametrize("name", LIB_FLAVORS)
@pytest.mark.parametrize("breakage", LIB_BREAKAGES, ids=lambda b: b.name)
def test_library_breakage(built: dict[str, bytes], name: str, breakage: Breakage) -> None:
    found = verify_elf(broken(flavor(built, name), breakage.mutate))
    assert rules(found) == breakage.expected, describe(found)


@pytest.mark.parametrize("name", PIE_FLAVORS)
@pytest.mark.parametrize("breakage", PIE_BREAKAGES, ids=lambda b: b.name)
def test_executable_breakage(built: dict[str, bytes], name: str, breakage: Breakage) -> None:
    found = verify_elf(broken(flavor(built, name), breakage.mutate))
    assert rules(found) == breakage.expected, describe(found)


def test_violation_details_name_the_culprit(built: dict[str, bytes]) -> None:
    elf = Elf(built["lib64"])
    ph = text_load(elf)
    (found,) = verify_elf(broken(built["lib64"], misalign_load))
    assert found.detail == (
        f"PT_LOAD[{ph['index']}]: p_offset 0x{ph['offset'] + 0x10:x} != p_vaddr "
        f"0x{ph['vaddr']:x} mod p_align 0x{ph['align']:x}"
    )
    (found,) = verify_elf(broken(built["lib64"], vn_file_is_soname))
    assert "'libvtest.so.1'" in found.detail


def test_verneed_loop_is_caught(built: dict[str, bytes]) -> None:
    """ELF32 addresses wrap, so a vna_next can point backwards and loop forever."""
    data = flavor(built, "lib32")
    elf = Elf(data)
    _, auxes = elf.verneed()[0]
    assert len(auxes) == 2
    elf.put("I", auxes[1] + 12, (auxes[0] - auxes[1]) & 0xFFFFFFFF)
    found = verify_elf(bytes(elf.data))
    assert rules(found) == {"verneed-parse"}
    assert "loops" in describe(found)


# --------------------------------------------------------------------------- header


def bad_class(data: bytes) -> bytes:
    return data[:4] + b"\x03" + data[5:]


def bad_data(data: bytes) -> bytes:
    return data[:5] + b"\x00" + data[6:]


def bad_phentsize(data: bytes) -> bytes:
    elf = Elf(data)
    elf.put("H", 16 + struct.calcsize("<" + EHDR_LAYOUT[elf.is64][:8]), 40)
    return bytes(elf.data)


def cut_in_phdrs(data: bytes) -> bytes:
    elf = Elf(data)
    return data[: elf.e_phoff + elf.e_phentsize + 3]


@pytest.mark.parametrize(
    "make",
    [
        lambda d: b"",
        lambda d: b"\x7fELF",
        lambda d: b"#!/bin/sh\n" + d,
        lambda d: d[:40],
        bad_class,
        bad_data,
        bad_phentsize,
        cut_in_phdrs,
    ],
    ids=[
        "empty",
        "magic-only",
        "not-elf",
        "truncated-ehdr",
        "bad-class",
        "bad-data",
        "bad-phentsize",
        "truncated-phdrs",
    ],
)
@pytest.mark.parametrize("name", ["lib64", "lib32", "lib64-be"])
def test_header_breakage(
    built: dict[str, bytes], name: str, make: Callable[[bytes], bytes]
) -> None:
    found = verify_elf(make(flavor(built, name)))
    assert len(found) == 1
    assert found[0].rule == "header"


def test_truncated_after_phdrs_reports_loads(built: dict[str, bytes]) -> None:
    data = built["lib64"]
    elf = Elf(data)
    found = verify_elf(data[: elf.e_phoff + elf.e_phnum * elf.e_phentsize])
    assert "load-in-file" in rules(found)


# --------------------------------------------------------------------------- page size


@pytest.mark.parametrize(
    ("machine", "page"),
    [
        (62, 0x1000),
        (3, 0x1000),
        (183, 0x10000),
        (21, 0x10000),
        (258, 0x10000),
        (20, 0x1000),
        (243, 0x1000),
        (22, 0x1000),
        (8, 0x1000),
        (0, 0x1000),
    ],
)
def test_page_size_for_machine(machine: int, page: int) -> None:
    assert page_size_for_machine(machine) == page


def test_x86_64_layout_fails_on_64k_pages(built: dict[str, bytes]) -> None:
    """Default x86_64 ld output (max-page-size 4 KiB) really cannot load with 64 KiB pages."""
    data = built["lib64"]
    assert verify_elf(data, page_size=0x1000) == ()
    assert rules(verify_elf(data, page_size=0x10000)) == {"load-alignment", "load-page-overlap"}
    as_aarch64 = Elf(data)
    as_aarch64.put("H", 18, 183)  # e_machine = EM_AARCH64 -> 64 KiB default page
    assert rules(verify_elf(bytes(as_aarch64.data))) == {"load-alignment", "load-page-overlap"}


def test_64k_layout_passes_on_64k_pages(built: dict[str, bytes]) -> None:
    assert verify_elf(built["lib64k"], page_size=0x10000) == ()


def add_4k_laid_out_segment(elf: Elf) -> None:
    """Turn PT_GNU_STACK into a new PT_LOAD placed the way a 4 KiB-minded rewriter would."""
    stack = elf.of_type(PT_GNU_STACK)[0]
    vaddr = align_up(max(ph["vaddr"] + ph["memsz"] for ph in elf.loads()), 0x1000)
    assert vaddr % 0x10000, "would not share a 64 KiB page; pick another layout"
    for field, value in [
        ("type", PT_LOAD),
        ("flags", PF_R),
        ("offset", vaddr % 0x10000),
        ("vaddr", vaddr),
        ("paddr", vaddr),
        ("filesz", 0x100),
        ("memsz", 0x100),
        ("align", 0x1000),
    ]:
        elf.set_phdr(stack, field, value)


def test_4k_laid_out_new_segment_fails_only_on_64k_pages(built: dict[str, bytes]) -> None:
    data = broken(built["lib64k"], add_4k_laid_out_segment)
    assert verify_elf(data, page_size=0x1000) == ()
    found = verify_elf(data, page_size=0x10000)
    assert rules(found) == {"load-page-overlap"}, describe(found)
    assert "page size 0x10000" in found[0].detail


def test_bad_page_size_argument_raises() -> None:
    for page in (0, -4096, 3000):
        with pytest.raises(ValueError, match="power of two"):
            verify_elf(b"\x7fELF", page_size=page)


# --------------------------------------------------------------------------- describe


def test_describe() -> None:
    found = (Violation("header", "bad magic"), Violation("note-parse", "PT_NOTE[5]: short"))
    assert describe(found) == "header: bad magic; note-parse: PT_NOTE[5]: short"
    assert describe(()) == ""
    assert str(found[0]) == "header: bad magic"


# --------------------------------------------------------------------------- robustness


def interesting_spans(data: bytes) -> list[tuple[int, int]]:
    """File ranges the verifier parses: headers, dynamic, strings, verneed, notes."""
    elf = Elf(data)
    spans = [(0, elf.e_phoff + elf.e_phnum * elf.e_phentsize)]
    for ph in elf.of_type(PT_DYNAMIC) + elf.of_type(PT_NOTE):
        spans.append((ph["offset"], ph["offset"] + ph["filesz"]))
    strtab = elf.to_offset(elf.dyn(DT_STRTAB)[0])
    spans.append((strtab, strtab + elf.dyn(DT_STRSZ)[0]))
    for vn, auxes in elf.verneed():
        spans.extend((at, at + 16) for at in [vn, *auxes])
    return spans


@pytest.mark.parametrize("name", ["lib64", "lib32", "lib64-be", "pie64"])
def test_random_mutations_never_raise(built: dict[str, bytes], name: str) -> None:
    data = flavor(built, name)
    spans = interesting_spans(data)
    rng = random.Random(f"verify-{name}")  # noqa: S311 -- reproducible fuzzing, not crypto
    fired: set[str] = set()
    for _ in range(300):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.8:
                lo, hi = rng.choice(spans)
                pos = rng.randrange(lo, max(hi, lo + 1))
            else:
                pos = rng.randrange(len(buf))
            if rng.random() < 0.3 and pos + 4 <= len(buf):
                buf[pos : pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\0\0\0\x80"])
            else:
                buf[pos] = rng.randrange(256)
        if rng.random() < 0.1:
            del buf[rng.randrange(len(buf)) :]
        found = verify_elf(bytes(buf))
        assert isinstance(found, tuple)
        assert all(isinstance(v, Violation) and "\n" not in v.detail for v in found)
        fired |= rules(found)
    assert len(fired) >= 5, fired  # the mutations do reach the deeper checks
