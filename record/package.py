"""The closing package: one zip from which anyone can recount the poll without the site.

    poll.json          the poll's rules and the entries it offered (titles, units), the void
                       reasons' names, and the facts of the tally export (time, status)
    entries.jsonl      the log, one canonical entry a line, in log order
    checkpoints.jsonl  every signed checkpoint, each with its consistency proof from the one
                       before ("consistency")
    tally.csv          the site's official tally export, byte for byte
    result.pdf         the 公示 document (optional here: the `record` app makes it)
    public_key.pem     the signing key's public half
    verify_record.py   the verifier (tools/verify_record.py)
    README.txt         how to run it, in Chinese and English
    manifest.json      SHA-256 and size of every file above
    manifest.sig       Ed25519 signature of manifest.json (base64)

Built from plain data, no Django: the `record` app gathers it from the database and calls
build_closing_package(). Given the same data the zip is the same, byte for byte.
"""

import hashlib
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import tools.verify_record as verifier
from tools.verify_record import BEIJING, FORMAT, MemoryTree, canonical_json, format_time, leaf_hash

README = """\
投票活动公开记录包 / A poll's public record package

本包包含投票活动的全部公开记录。任何人都可以不依赖网站，自行核验并重新计票：
  1. 安装 Python 3.11 或更新版本，然后运行：pip install cryptography
  2. 运行：python verify_record.py 本文件名.zip
     核对回执：python verify_record.py 本文件名.zip --receipt 回执编号
     核对投票期间保存的检查点：python verify_record.py 本文件名.zip --checkpoint 检查点.json
     核对公钥：python verify_record.py 本文件名.zip --fingerprint "公布的公钥指纹"
程序逐项核验签名、默克尔树根哈希、一致性证明和计票结果，遇到第一个问题即停止并指出。

This package holds the poll's whole public record. Anyone can verify it and recount the votes
without the site:
  1. Install Python 3.11 or newer, then: pip install cryptography
  2. Run: python verify_record.py THIS-FILE.zip
     a receipt: --receipt CODE; a checkpoint saved during voting: --checkpoint SAVED.json;
     the key the office published: --fingerprint "FINGERPRINT"
It checks the signatures, the Merkle roots, the consistency proofs and the tally, and stops at
the first thing that does not hold, naming it.
"""


@dataclass(frozen=True)
class OfferedEntry:
    """One entry (reforms.Reform) as the tally lists it.

    offered: the poll offers it. An entry taken off the poll after it received votes is listed
    with offered=False, as the tally lists it too.
    """

    number: int
    title: str
    unit: str
    offered: bool = True


@dataclass(frozen=True)
class PollFacts:
    """What poll.json says about the poll. Times are aware datetimes (or None)."""

    slug: str
    title: str
    intro: str
    max_choices: int
    entries: Sequence[OfferedEntry]
    void_reasons: Mapping[str, str]  # category → its Chinese label, e.g. "stuffing" → "疑似刷票"
    opens_at: datetime
    closes_at: datetime | None = None
    closed_at: datetime | None = None
    publicity_ends_at: datetime | None = None
    certified_at: datetime | None = None
    require_id_number: bool = False
    id_region_prefixes: Sequence[str] = ()
    extra: Mapping[str, object] = field(default_factory=dict)  # more facts for readers


def _time(moment):
    return None if moment is None else format_time(moment)


def poll_document(poll, *, tally_exported_at, tally_status):
    """poll.json's content. tally_exported_at and tally_status are those the tally.csv export
    wrote in its 导出说明 block (导出时间, 投票状态): the verifier regenerates the same bytes."""
    return {
        **poll.extra,
        "format": FORMAT,
        "poll": poll.slug,
        "title": poll.title,
        "intro": poll.intro,
        "max_choices": poll.max_choices,
        "require_id_number": poll.require_id_number,
        "id_region_prefixes": list(poll.id_region_prefixes),
        "opens_at": _time(poll.opens_at),
        "closes_at": _time(poll.closes_at),
        "closed_at": _time(poll.closed_at),
        "publicity_ends_at": _time(poll.publicity_ends_at),
        "certified_at": _time(poll.certified_at),
        "entries": [
            {"number": e.number, "title": e.title, "unit": e.unit, "offered": e.offered}
            for e in sorted(poll.entries, key=lambda e: e.number)
        ],
        "void_reasons": dict(poll.void_reasons),
        "tally_export": {"exported_at": format_time(tally_exported_at), "status": tally_status},
    }


def _pretty(document):
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class PackageSummary:
    manifest: dict
    entries: int
    checkpoints: int


class _Writer:
    """Zip members with fixed dates and modes (the same data gives the same zip), hashed."""

    def __init__(self, output, moment):
        self.zip = zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED)
        self.date_time = moment.astimezone(BEIJING).timetuple()[:6]
        self.files = {}

    def _info(self, name):
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def add(self, name, data):
        self.zip.writestr(self._info(name), data)
        self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    def add_lines(self, name, lines):
        """Stream a file of lines (memory flat in the log's size); returns how many."""
        digest, size, count = hashlib.sha256(), 0, 0
        with self.zip.open(self._info(name), "w", force_zip64=True) as stream:
            for line in lines:
                data = line + b"\n"
                stream.write(data)
                digest.update(data)
                size, count = size + len(data), count + 1
        self.files[name] = {"sha256": digest.hexdigest(), "bytes": size}
        return count


def build_closing_package(
    output,
    *,
    poll: PollFacts,
    entries: Iterable[bytes],
    checkpoints: Sequence[Mapping],
    tally_csv: bytes,
    tally_exported_at: datetime,
    tally_status: str,
    signer,
    created_at: datetime,
    result_pdf: bytes | None = None,
):
    """Write the closing package to output (a path or a binary file open for writing).

    entries: the log's entries in log order, each its stored canonical bytes (no newline);
    checkpoints: the signed checkpoints in order, as Signer.checkpoint() made them;
    tally_csv: the bytes of the site's official export (ballots.export.tally_lines, encoded),
    exported at tally_exported_at with the status label tally_status it printed;
    signer: a record.signing.Signer with the record's key (it signs the manifest);
    result_pdf: the 公示 document, when the `record` app has made it.

    The package holds what it is given: if the database's log was altered, the verifier names
    the first checkpoint the altered log no longer matches. Consistency proofs are computed
    here from the entries given.
    """
    writer = _Writer(output, created_at)
    with writer.zip:
        writer.add(
            "poll.json",
            _pretty(
                poll_document(poll, tally_exported_at=tally_exported_at, tally_status=tally_status)
            ),
        )
        tree = MemoryTree()

        def log_lines():
            for entry in entries:
                tree.append(leaf_hash(entry))
                yield entry

        count = writer.add_lines("entries.jsonl", log_lines())
        writer.add_lines("checkpoints.jsonl", _with_proofs(checkpoints, tree))
        writer.add("tally.csv", tally_csv)
        if result_pdf is not None:
            writer.add("result.pdf", result_pdf)
        writer.add("public_key.pem", signer.public_key_pem)
        writer.add("verify_record.py", Path(verifier.__file__).read_bytes())
        writer.add("README.txt", README.encode())
        manifest = {
            "format": FORMAT,
            "poll": poll.slug,
            "created": format_time(created_at),
            "files": writer.files,
        }
        manifest_bytes = _pretty(manifest)
        writer.zip.writestr(writer._info("manifest.json"), manifest_bytes)
        signature = signer.sign_manifest(manifest_bytes) + "\n"
        writer.zip.writestr(writer._info("manifest.sig"), signature.encode("ascii"))
    return PackageSummary(manifest, count, len(checkpoints))


def _with_proofs(checkpoints, tree):
    previous = 0
    for checkpoint in checkpoints:
        size = checkpoint["size"]
        # A checkpoint the entries no longer reach gets no proof: the verifier names it.
        proof = tree.consistency_proof(previous, size) if previous <= size <= tree.size else []
        yield canonical_json({**checkpoint, "consistency": [h.hex() for h in proof]})
        previous = size
