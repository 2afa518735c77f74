"""A small ctypes binding to libnftables' JSON interface.

There is no nftables binding on PyPI (Debian's python3-nftables serves only the system
python), and the JSON interface is all we need. A context talks netlink to the namespace
of the thread that created it, so create and use it inside `run_in_netns`.
"""

from __future__ import annotations

import ctypes
import json
from types import TracebackType
from typing import Any

_NFT_CTX_OUTPUT_JSON = 1 << 4
_LIBRARY = "libnftables.so.1"
_lib: ctypes.CDLL | None = None


class NftError(RuntimeError):
    """nft rejected a command; `text` carries nft's own error message."""

    def __init__(self, text: str, rc: int) -> None:
        super().__init__(text)
        self.text = text
        self.rc = rc


class NftUnavailable(NftError):
    """libnftables could not be loaded."""


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL(_LIBRARY)
    except OSError as exc:
        raise NftUnavailable(f"cannot load {_LIBRARY}: {exc}", -1) from exc
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.restype = None
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_output_set_flags.restype = None
    lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p]
    for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_char_p
        fn.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    _lib = lib
    return lib


def available() -> bool:
    try:
        _load()
    except NftUnavailable:
        return False
    return True


class Nft:
    """One libnftables context with JSON output and buffered output/errors."""

    def __init__(self) -> None:
        self._lib = _load()
        ctx = self._lib.nft_ctx_new(0)
        if not ctx:
            raise NftError("nft_ctx_new failed", -1)
        self._ctx: int | None = ctx
        self._lib.nft_ctx_output_set_flags(ctx, _NFT_CTX_OUTPUT_JSON)
        self._lib.nft_ctx_buffer_output(ctx)
        self._lib.nft_ctx_buffer_error(ctx)

    def __enter__(self) -> Nft:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run JSON commands as one nft batch (one kernel transaction); return the
        objects nft printed (list commands), without the metainfo entry."""
        if self._ctx is None:
            raise NftError("nft context is closed", -1)
        payload = json.dumps({"nftables": commands}).encode()
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, payload)
        out = self._lib.nft_ctx_get_output_buffer(self._ctx) or b""
        err = self._lib.nft_ctx_get_error_buffer(self._ctx) or b""
        if rc != 0:
            raise NftError(_error_text(err.decode(errors="replace")), rc)
        return _parse_output(out.decode(errors="replace"))

    def list_tables(self) -> list[dict[str, Any]]:
        return [o["table"] for o in self.run([{"list": {"tables": None}}]) if "table" in o]

    def list_ruleset(self) -> list[dict[str, Any]]:
        return self.run([{"list": {"ruleset": None}}])


def _error_text(raw: str) -> str:
    # nft repeats the JSON input under its messages, which tells an operator nothing
    lines = [ln.split(": ", 1)[-1] for ln in raw.splitlines() if "Error:" in ln or "Warning:" in ln]
    return "; ".join(lines) if lines else raw.strip() or "nft failed without a message"


def _parse_output(text: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    pos = 0
    text = text.strip()
    # several list commands in one batch print several JSON documents back to back
    while pos < len(text):
        doc, end = decoder.raw_decode(text, pos)
        objects.extend(o for o in doc.get("nftables", []) if "metainfo" not in o)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return objects


def run_json(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One-shot helper: run commands in the calling thread's namespace."""
    with Nft() as nft:
        return nft.run(commands)
