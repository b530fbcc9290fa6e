"""ELF files: header facts (``structs``), the values stages exchange (``model``), LIEF I/O
(``lief_io``, the only importer of LIEF), its crash-isolating worker (``worker``), stripping,
dynamic-symbol counting and the post-write verifier.

Importing this package (or ``structs``/``model``) does not import LIEF.
"""

from __future__ import annotations

from wheelfix.elf.model import ElfEdit, ElfInfo, ElfSummary, Soname, can_strip, expected_summary
from wheelfix.elf.structs import (
    ELF_MAGIC,
    ElfHeader,
    is_elf,
    machine_to_arch,
    page_size_for,
    read_header,
)

__all__ = [
    "ELF_MAGIC",
    "ElfEdit",
    "ElfHeader",
    "ElfInfo",
    "ElfSummary",
    "Soname",
    "can_strip",
    "expected_summary",
    "is_elf",
    "machine_to_arch",
    "page_size_for",
    "read_header",
]
