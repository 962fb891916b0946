"""An S3 request's payload: aws-chunked framing removed (chunk and trailer signatures checked
when the upload is signed), x-amz-content-sha256, Content-MD5 and x-amz-checksum-* verified.

Sources: "Signature Calculations for the Authorization Header: Transferring Payload in Multiple
Chunks (Chunked Upload)" and "Checking object integrity" (Amazon S3 User and API guides).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Callable

from localcloud.errors import InvalidRequest, SignatureDoesNotMatch
from localcloud.protocol import Request
from localcloud.s3.exceptions import BadDigest, IncompleteBody, InvalidDigest, XAmzContentSHA256Mismatch

CHECKSUMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
# S3 reads integers as ASCII digits; Python's int() also takes "+5", " 5", "1_000" and other
# scripts' digits ("١٢"), none of which S3 accepts.
DIGITS = re.compile(r"-?[0-9]+")


def verified_payload(req: Request) -> tuple[bytes, dict[str, str]]:
    """The object bytes (aws-chunked framing removed) and the verified checksums (alg -> base64)."""
    body = req.body
    sha_header = req.headers.get("x-amz-content-sha256") or ""
    encoding = (req.headers.get("Content-Encoding") or "").lower()
    trailers: dict[str, str] = {}
    if sha_header.startswith("STREAMING-") or "aws-chunked" in encoding:
        body, trailers = decode_aws_chunked(body, req.verify_chunk, req.verify_trailer)
        declared = req.headers.get("x-amz-decoded-content-length")
        if declared is not None and DIGITS.fullmatch(declared) and int(declared) != len(body):
            raise IncompleteBody(
                "You did not provide the number of bytes specified by "
                f"the x-amz-decoded-content-length HTTP header ({declared} declared, "
                f"{len(body)} received)"
            )
    elif sha_header and re.fullmatch(r"[0-9a-f]{64}", sha_header):
        if hashlib.sha256(body).hexdigest() != sha_header:
            raise XAmzContentSHA256Mismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
    md5_header = req.headers.get("Content-MD5")
    if md5_header is not None:
        try:
            expected = base64.b64decode(md5_header.strip(), validate=True)
        except (binascii.Error, ValueError):
            expected = b""
        if len(expected) != 16:
            raise InvalidDigest("The Content-MD5 you specified was invalid.")
        if hashlib.md5(body).digest() != expected:
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
    checksums: dict[str, str] = {}
    for alg in CHECKSUMS:
        name = f"x-amz-checksum-{alg}"
        value = trailers.get(name) or req.headers.get(name)
        if value is None:
            continue
        value = value.strip()
        if not _well_formed(alg, value):
            # S3's answer for a value that is not the algorithm's digest in base64.
            raise InvalidRequest(f"Value for x-amz-checksum-{alg} header is invalid.")
        actual = checksum(alg, body)
        if actual is not None and actual != value:
            raise BadDigest(f"The {alg.upper()} you specified did not match the calculated checksum.")
        checksums[alg] = value
    return body, checksums


_DIGEST_BYTES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}


def _well_formed(alg: str, value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == _DIGEST_BYTES[alg]
    except (binascii.Error, ValueError):
        return False


def checksum(alg: str, data: bytes) -> str | None:
    """Base64 checksum, or None for algorithms localcloud cannot compute (accepted unverified)."""
    running = running_checksum(alg, small=len(data) <= _PURE_PYTHON_LIMIT)
    if running is None:
        return None
    running.update(data)
    return running.value()


# CRC32C (Castagnoli, reflected polynomial 0x82F63B78) in pure Python: a few MB/s, so it checks
# what is small (a multipart upload's composite checksum over its parts' checksums) and is not
# used to verify large payloads (accepted unverified, as before).
_PURE_PYTHON_LIMIT = 1 << 16


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


class RunningChecksum:
    """A checksum fed chunk by chunk; value() is its base64 as S3 sends it."""

    def __init__(self, alg: str):
        self.alg = alg
        self._crc = 0
        self._hash = hashlib.new(alg) if alg in ("sha1", "sha256") else None

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        elif self.alg == "crc32":
            self._crc = zlib.crc32(data, self._crc)
        else:
            crc = self._crc ^ 0xFFFFFFFF
            for byte in data:
                crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
            self._crc = crc ^ 0xFFFFFFFF

    def value(self) -> str:
        digest = self._hash.digest() if self._hash is not None else (self._crc & 0xFFFFFFFF).to_bytes(4, "big")
        return base64.b64encode(digest).decode()


def running_checksum(alg: str, small: bool = False) -> RunningChecksum | None:
    """A RunningChecksum for crc32, sha1 and sha256 (and crc32c when `small`: pure Python);
    None for the others (crc64nvme)."""
    if alg in ("crc32", "sha1", "sha256") or (alg == "crc32c" and small):
        return RunningChecksum(alg)
    return None


def decode_aws_chunked(
    body: bytes,
    verify_chunk: Callable[[bytes, str], None] | None = None,
    verify_trailer: Callable[[bytes, str], None] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Strip `<hex-size>[;chunk-signature=..]\\r\\n<data>\\r\\n ... 0\\r\\n<trailers>\\r\\n\\r\\n`.

    With `verify_chunk` (a signed streaming upload) every chunk, the final empty one included,
    must carry a chunk-signature that verifies; with `verify_trailer` the trailing headers must
    carry an x-amz-trailer-signature that verifies. Returns (the data, the trailing headers by
    lower-case name). IncompleteBody for malformed framing, SignatureDoesNotMatch for a missing
    signature (the verifiers raise their own for a wrong one).
    """
    out = []
    pos = 0
    trailers: dict[str, str] = {}

    def bad() -> IncompleteBody:
        return IncompleteBody("The aws-chunked request body is malformed")

    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise bad()
        size_field, _, extension = body[pos:eol].partition(b";")
        try:
            size_text = size_field.strip().decode("ascii")
            if not re.fullmatch(r"[0-9a-fA-F]+", size_text):
                raise ValueError(size_text)
            size = int(size_text, 16)
        except (ValueError, UnicodeDecodeError):
            raise bad() from None
        pos = eol + 2
        if size < 0 or pos + size > len(body):
            raise bad()
        data = body[pos : pos + size]
        if verify_chunk is not None:
            name, _, signature = extension.decode("latin-1").partition("=")
            if name.strip() != "chunk-signature" or not signature:
                raise SignatureDoesNotMatch("A chunk of this signed aws-chunked upload carries no chunk-signature")
            verify_chunk(data, signature.strip())
        if size == 0:
            break
        out.append(data)
        pos += size
        if body[pos : pos + 2] != b"\r\n":
            raise bad()
        pos += 2
    trailer_signature: str | None = None
    canonical = []
    for line in body[pos:].split(b"\r\n"):
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                trailer_signature = value.strip()
                continue
            trailers[name] = value.strip()
            canonical.append(f"{name}:{value.strip()}\n")
    if verify_trailer is not None:
        if trailer_signature is None:
            raise SignatureDoesNotMatch("The signed aws-chunked upload's trailer carries no x-amz-trailer-signature")
        verify_trailer("".join(canonical).encode("latin-1"), trailer_signature)
    return b"".join(out), trailers


def checksum_headers(checksums: dict[str, str]) -> dict[str, str]:
    return {f"x-amz-checksum-{alg}": value for alg, value in checksums.items()}
