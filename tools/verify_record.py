#!/usr/bin/env python3
"""核验投票活动的公开记录 · Verify the public record of a zibo-vote poll.

    python verify_record.py PACKAGE.zip [--receipt CODE] [--checkpoint SAVED.json]
                            [--fingerprint "3F2A 9C01 …"]

One file, Python 3.11 or newer plus the `cryptography` package (`pip install cryptography`);
it imports nothing of the site. From a closing package alone it checks, in this order, and stops
at the first thing that does not hold, naming it:

1. the manifest's Ed25519 signature and the SHA-256 of every file it lists;
2. every checkpoint's signature, that each one extends the one before (RFC 9162 consistency
   proof), and that its root is the Merkle root recomputed from entries.jsonl;
3. with --checkpoint: that a checkpoint someone saved during voting was signed by the same key,
   is listed in the package and is a prefix of the final log (a consistency proof);
4. the tally: a recount from the entries, done here without the site's code, compared with
   tally.csv number by number and then byte for byte;
5. with --receipt: that the ballot is in the record, counted or voided, with its choices.

Exit status: 0 all checks passed; 1 a check failed; 2 the command line or a file named on it
could not be used; 3 the receipt is not in the record (everything else passed).

The site imports the primitives below (hashing, proofs, canonical JSON, receipts, signatures)
from this file, so there is one definition of the log. The recount is deliberately this file's
own: an independent recount is the point. docs/record.md describes every format.
"""

import argparse
import base64
import binascii
import csv
import hashlib
import io
import json
import re
import sys
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - only on a machine without the package
    sys.stderr.write(
        "需要 cryptography 软件包，请先运行：pip install cryptography\n"
        "This tool needs the cryptography package: pip install cryptography\n"
    )
    raise SystemExit(2) from None

FORMAT = "zibo-vote-record/1"
RECEIPT_PROOF_FORMAT = "zibo-vote-receipt-proof/1"
# Signed messages start with what they are, so a signature over one kind of document can never
# be passed off as a signature over another.
CHECKPOINT_CONTEXT = b"zibo-vote checkpoint v1\n"
MANIFEST_CONTEXT = b"zibo-vote manifest v1\n"
# Beijing time. A fixed offset, not a time-zone database: China has kept UTC+8 without daylight
# saving since 1991, and Windows has no tz database for zoneinfo.
BEIJING = timezone(timedelta(hours=8))
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = SHA-256()

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RECEIPT_NOT_FOUND = 0, 1, 2, 3

CHECKPOINT_FIELDS = ("poll", "size", "root", "time")
PACKAGE_FILES = (
    "poll.json",
    "entries.jsonl",
    "checkpoints.jsonl",
    "tally.csv",
    "public_key.pem",
    "verify_record.py",
)
SIGNATURE_FILES = ("manifest.json", "manifest.sig")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Failure(Exception):
    """The first thing that does not hold, in Chinese and in English."""

    exit_code = EXIT_FAILED

    def __init__(self, zh, en):
        super().__init__(en)
        self.zh, self.en = zh, en


class ReceiptNotFound(Failure):
    exit_code = EXIT_RECEIPT_NOT_FOUND


# --- RFC 9162 §2.1: the Merkle tree ---------------------------------------------------------


def leaf_hash(entry):
    """MTH of one entry: SHA-256(0x00 ‖ entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    """An inner node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n):
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start, end):
    """The range of leaves [start, end) as perfect subtrees, left to right, each (level, index).

    A perfect subtree at (level, index) holds leaves index·2^level … (index+1)·2^level − 1; its
    hash never changes once the tree has grown past it, which is what makes it worth storing.
    Valid for the ranges RFC 9162's proofs use (start a multiple of a power of two ≥ end − start).
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def subtree_hash(start, end, node):
    """MTH(D[start:end]) from perfect-subtree hashes; node(level, index) returns one of them."""
    nodes = perfect_subtrees(start, end)
    result = node(*nodes[-1])
    for level, index in reversed(nodes[:-1]):
        result = node_hash(node(level, index), result)
    return result


def tree_root(size, node):
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, node)


def inclusion_ranges(index, size):
    """RFC 9162 §2.1.3.1 PATH(index, D[size]): the leaf ranges whose MTH form the proof.

    Ordered as the proof is, from the leaf up to the root.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    ranges, start, end = [], 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size, new_size):
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[new_size]) as leaf ranges, in the proof's order.

    Empty when old_size is 0 or equal to new_size: there is nothing to prove.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    ranges, start, end, m, whole = [], 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def nodes_for(ranges):
    """Every perfect subtree the hashes of these ranges need: what a store fetches at once."""
    return sorted({node for start, end in ranges for node in perfect_subtrees(start, end)})


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 §2.1.3.2, step by step. leaf is the entry's leaf hash."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(old_size, new_size, old_root, new_root, proof):
    """RFC 9162 §2.1.4.2, step by step, plus the two cases the RFC leaves out.

    A tree is consistent with itself (same size, same root, empty proof), and every tree with
    the empty tree (size 0, root SHA-256(), empty proof), as Sigsum and Trillian define them.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:  # step 1
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0  # step 7


class MemoryTree:
    """Every perfect-subtree hash of a log, kept in memory (about 64 bytes a leaf).

    What this tool and the package builder use; the site keeps the same hashes in tiles
    (record.merkle).
    """

    def __init__(self):
        self._levels = [bytearray()]

    @property
    def size(self):
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf):
        levels, level = self._levels, 0
        levels[0] += leaf
        # Each time a level holds an even number of hashes, its last two complete a parent.
        while len(levels[level]) // HASH_SIZE % 2 == 0:
            pair = levels[level][-2 * HASH_SIZE :]
            if level + 1 == len(levels):
                levels.append(bytearray())
            levels[level + 1] += node_hash(bytes(pair[:HASH_SIZE]), bytes(pair[HASH_SIZE:]))
            level += 1

    def node(self, level, index):
        return bytes(self._levels[level][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def _size(self, size):
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValueError(f"the tree has {self.size} leaves, not {size}")
        return size

    def root(self, size=None):
        return tree_root(self._size(size), self.node)

    def inclusion_proof(self, index, size=None):
        return [subtree_hash(*r, self.node) for r in inclusion_ranges(index, self._size(size))]

    def consistency_proof(self, old_size, new_size=None):
        ranges = consistency_ranges(old_size, self._size(new_size))
        return [subtree_hash(*r, self.node) for r in ranges]


# --- Canonical forms: JSON, times, receipts -------------------------------------------------


# One encoder for every call: json.dumps() with options builds a new one each time, which is
# a fifth of the verifier's time at a million entries.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value):
    """The bytes that are hashed and signed: sorted keys, no spaces, UTF-8 (not \\u escapes).

    The same as json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
    """
    return _CANONICAL.encode(value).encode("utf-8")


def format_time(moment):
    """An aware datetime as the record writes it: Beijing time to the second, with its offset."""
    if moment.tzinfo is None:
        raise ValueError("a time in the record needs its time zone")
    return moment.astimezone(BEIJING).replace(microsecond=0).isoformat()


def parse_time(text):
    """The inverse of format_time; refuses any other spelling of a time."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"not a time: {text!r}") from None
    if moment.tzinfo is None or format_time(moment) != text:
        raise ValueError(f"not a time in the record's form (2026-11-27T15:30:05+08:00): {text!r}")
    return moment


def beijing(moment):
    """How people read a time: 2026-11-27 15:30:05 (Beijing time)."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


_RECEIPT_SEPARATORS = dict.fromkeys(map(ord, "-‐‑‒–—―_"))


def normalise_receipt(text):
    """A receipt as typed → its canonical form: full-width characters folded (NFKC), spaces and
    dashes dropped, upper case. '7k3m-9qx2 abcd' and '７Ｋ３Ｍ９ＱＸ２ＡＢＣＤ' → '7K3M9QX2ABCD'."""
    folded = unicodedata.normalize("NFKC", text).translate(_RECEIPT_SEPARATORS)
    return "".join(folded.split()).upper()


def receipt_hash(receipt):
    """What the record holds instead of a receipt: SHA-256 (hex) of its canonical form."""
    return hashlib.sha256(normalise_receipt(receipt).encode("utf-8")).hexdigest()


def format_receipt(receipt):
    code = normalise_receipt(receipt)
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


# --- Keys and signatures --------------------------------------------------------------------


def load_public_key(pem):
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise Failure(
            "public_key.pem 不是有效的公钥。", "public_key.pem is no public key."
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise Failure("public_key.pem 不是 Ed25519 公钥。", "public_key.pem is not an Ed25519 key.")
    return key


def public_key_fingerprint(public_key):
    """SHA-256 of the raw 32-byte public key, in sixteen groups of four hex digits."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest().upper()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _bare_fingerprint(text):
    return re.sub(r"[\s:]", "", text).upper()


def checkpoint_message(body):
    """The bytes a checkpoint's signature covers: a context line, then its canonical JSON."""
    return CHECKPOINT_CONTEXT + canonical_json({k: body[k] for k in CHECKPOINT_FIELDS})


def manifest_message(manifest_bytes):
    return MANIFEST_CONTEXT + manifest_bytes


def decode_signature(text):
    """An Ed25519 signature as published: standard base64 of its 64 bytes."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        return None
    return raw if len(raw) == 64 else None


def signature_valid(public_key, signature_text, message):
    raw = decode_signature(signature_text) if isinstance(signature_text, str) else None
    if raw is None:
        return False
    try:
        public_key.verify(raw, message)
    except InvalidSignature:
        return False
    return True


def checkpoint_body(obj):
    """The signed part of a published checkpoint, checked field by field (ValueError if not)."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in (*CHECKPOINT_FIELDS, "signature") if k not in obj]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    poll, size, root, time = (obj[k] for k in CHECKPOINT_FIELDS)
    if not isinstance(poll, str) or not poll:
        raise ValueError("poll is not a name")
    if type(size) is not int or size < 0:
        raise ValueError("size is not a whole number")
    if not isinstance(root, str) or not _HEX64.fullmatch(root):
        raise ValueError("root is not 64 lower-case hex digits")
    parse_time(time)
    return {"poll": poll, "size": size, "root": root, "time": time}


def _hashes(values, what):
    if not isinstance(values, list) or not all(
        isinstance(v, str) and _HEX64.fullmatch(v) for v in values
    ):
        raise ValueError(f"{what} is not a list of 64-digit hex hashes")
    return [bytes.fromhex(v) for v in values]


# --- The entries and the rules of the log ---------------------------------------------------


class EntryProblem(Exception):
    def __init__(self, zh, en):
        super().__init__(en)
        self.zh, self.en = zh, en


ENTRY_FIELDS = {
    "ballot": {"type", "poll", "receipt_hash", "choices"},
    "void": {"type", "poll", "receipt_hash", "reason", "voiding"},
    "close": {"type", "poll", "at"},
    "certification": {"type", "poll", "at", "ballots", "voided", "votes"},
}


def _whole(value):
    return type(value) is int and value >= 0


class LogState:
    """The poll as its entries tell it, one entry at a time, refusing what the rules forbid.

    A ballot may come only before the close; a voiding names a ballot already in the log, once;
    nothing may follow the certification, whose numbers must be the recount's.
    """

    def __init__(self, poll):
        self.poll = poll
        self.numbers = {e["number"] for e in poll["entries"]}
        self.ballots = {}  # receipt_hash → (entry number in the log, choices)
        self.voids = {}  # receipt_hash → (entry number in the log, reason, voiding)
        self.closed_at = None
        self.certification = None
        self.count = 0

    def add(self, line):
        self.count += 1
        try:
            entry = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise EntryProblem("不是有效的 JSON。", "is not valid JSON.") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise EntryProblem("类型不明。", "has no known type.")
        if entry["type"] not in ENTRY_FIELDS:
            raise EntryProblem("类型不明。", "has no known type.")
        if canonical_json(entry) != line:
            raise EntryProblem(
                "不是规范形式的 JSON（键须排序、无空格、UTF-8）。",
                "is not canonical JSON (sorted keys, no spaces, UTF-8).",
            )
        kind = entry["type"]
        if set(entry) != ENTRY_FIELDS[kind]:
            raise EntryProblem("字段不符合格式。", f"does not have the fields of a {kind} entry.")
        if entry["poll"] != self.poll["poll"]:
            raise EntryProblem("属于另一个投票活动。", "belongs to another poll.")
        if self.certification is not None:
            raise EntryProblem("出现在结果确认之后。", "comes after the certification.")
        try:
            getattr(self, f"_{kind}")(entry)
        except TypeError:  # a list where a number or a name belongs, say
            raise EntryProblem("字段的类型不对。", "has a field of the wrong type.") from None

    def _receipt_hash(self, entry):
        value = entry["receipt_hash"]
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise EntryProblem("回执摘要格式不对。", "has a malformed receipt_hash.")
        return value

    def _ballot(self, entry):
        if self.closed_at is not None:
            raise EntryProblem("是投票结束后的选票。", "is a ballot after the close.")
        receipt = self._receipt_hash(entry)
        choices = entry["choices"]
        if (
            not isinstance(choices, list)
            or not choices
            or not all(type(c) is int for c in choices)
            or choices != sorted(set(choices))
        ):
            raise EntryProblem(
                "所选项须为按序排列、互不重复的序号。",
                "choices must be distinct entry numbers in ascending order.",
            )
        if len(choices) > self.poll["max_choices"]:
            raise EntryProblem(
                f"选了 {len(choices)} 项，超过每张选票最多 {self.poll['max_choices']} 项。",
                f"has {len(choices)} choices; a ballot may have {self.poll['max_choices']}.",
            )
        unknown = [c for c in choices if c not in self.numbers]
        if unknown:
            raise EntryProblem(
                f"选择了本次活动没有的序号 {unknown[0]}。", f"chooses {unknown[0]}, not an entry."
            )
        if receipt in self.ballots:
            raise EntryProblem(
                f"与第 {self.ballots[receipt][0]} 条记录是同一张选票。",
                f"repeats the ballot of entry {self.ballots[receipt][0]}.",
            )
        self.ballots[receipt] = (self.count, tuple(choices))

    def _void(self, entry):
        receipt = self._receipt_hash(entry)
        if receipt not in self.ballots:
            raise EntryProblem(
                "作废了一张此前不在记录中的选票。", "voids a ballot that is not earlier in the log."
            )
        if receipt in self.voids:
            raise EntryProblem(
                f"重复作废第 {self.voids[receipt][0]} 条记录已作废的选票。",
                f"voids again the ballot voided by entry {self.voids[receipt][0]}.",
            )
        if entry["reason"] not in self.poll["void_reasons"]:
            raise EntryProblem("作废原因不在 poll.json 之列。", "gives a reason not in poll.json.")
        if type(entry["voiding"]) is not int or entry["voiding"] < 1:
            raise EntryProblem("作废批次编号不对。", "has a malformed voiding number.")
        self.voids[receipt] = (self.count, entry["reason"], entry["voiding"])

    def _time(self, entry):
        try:
            return parse_time(entry["at"])
        except ValueError:
            raise EntryProblem("时间格式不对。", "has a malformed time.") from None

    def _close(self, entry):
        if self.closed_at is not None:
            raise EntryProblem("是第二条结束记录。", "is a second close.")
        self.closed_at = self._time(entry)

    def _certification(self, entry):
        if self.closed_at is None:
            raise EntryProblem("在投票结束前确认了结果。", "certifies before the close.")
        at = self._time(entry)
        votes = entry["votes"]
        if not isinstance(votes, list) or not all(
            isinstance(v, dict)
            and set(v) == {"number", "votes"}
            and v["number"] in self.numbers
            and _whole(v["votes"])
            for v in votes
        ):
            raise EntryProblem("所确认的得票格式不对。", "has malformed votes.")
        certified = {v["number"]: v["votes"] for v in votes}
        counts, ballots, voided = self.counts()
        for number in sorted(self.numbers):
            if certified.get(number, 0) != counts.get(number, 0):
                raise EntryProblem(
                    f"确认序号 {number} 得 {certified.get(number, 0)} 票，"
                    f"而记录中为 {counts.get(number, 0)} 票。",
                    f"certifies {certified.get(number, 0)} votes for entry {number}; "
                    f"the log holds {counts.get(number, 0)}.",
                )
        if (entry["ballots"], entry["voided"]) != (ballots, voided):
            raise EntryProblem(
                f"确认有效选票 {entry['ballots']}、作废 {entry['voided']}，"
                f"而记录中为 {ballots}、{voided}。",
                f"certifies {entry['ballots']} ballots counted and {entry['voided']} voided; "
                f"the log holds {ballots} and {voided}.",
            )
        self.certification = at

    def counts(self):
        """(votes per entry number, counted ballots, voided ballots): ballots minus voidings."""
        votes = Counter()
        for receipt, (_, choices) in self.ballots.items():
            if receipt not in self.voids:
                votes.update(choices)
        return dict(votes), len(self.ballots) - len(self.voids), len(self.voids)


def _checkpoint_name(number, body):
    when = beijing(parse_time(body["time"]))
    return (
        f"第 {number} 个检查点（{when}，{body['size']:,} 条记录）",
        f"checkpoint {number} ({when}, size {body['size']:,})",
    )


@dataclass
class LogResult:
    state: LogState
    tree: MemoryTree
    checkpoints: list  # the published objects, as read


def verify_log(poll, entry_lines, checkpoints, public_key, report):
    """Checkpoints in order against the entries: signature, extension of the one before, root.

    entry_lines: the entries' canonical bytes in log order (no newline); checkpoints: the
    published objects in order. Raises Failure at the first that does not hold, so a change to
    the log is named by the first checkpoint that covered it. `manage.py verify_record` calls
    this with the database's log; the package check with entries.jsonl.
    """
    state, tree = LogState(poll), MemoryTree()
    lines = iter(entry_lines)
    previous = {"size": 0, "root": EMPTY_ROOT.hex(), "time": None}
    if not checkpoints:
        raise Failure("记录中没有检查点。", "The record has no checkpoint.")
    for number, published in enumerate(checkpoints, 1):
        try:
            body = checkpoint_body(published)
            proof = _hashes(published.get("consistency", []), "consistency")
        except ValueError as error:
            raise Failure(
                f"第 {number} 个检查点格式不对：{error}。",
                f"Checkpoint {number} is malformed: {error}.",
            ) from None
        zh, en = _checkpoint_name(number, body)
        if body["poll"] != poll["poll"]:
            raise Failure(f"{zh}属于另一个投票活动。", f"{en} belongs to another poll.")
        if not signature_valid(public_key, published["signature"], checkpoint_message(body)):
            raise Failure(
                f"{zh}的签名无效：它不是用本记录的密钥签署的，或签署后被改动过。",
                f"{en}: the signature does not verify; it was altered after signing or signed by "
                "another key.",
            )
        if body["size"] < previous["size"]:
            raise Failure(
                f"{zh}比前一个检查点的记录少：有记录被删除。",
                f"{en} is smaller than the checkpoint before it: entries were removed.",
            )
        if previous["time"] is not None and body["time"] < previous["time"]:
            raise Failure(f"{zh}的时间早于前一个检查点。", f"{en} is dated before the one before.")
        while tree.size < body["size"]:
            line = next(lines, None)
            if line is None:
                raise Failure(
                    f"{zh}涵盖 {body['size']:,} 条记录，但 entries.jsonl 只有 {tree.size:,} 条："
                    "有记录被删除。",
                    f"{en} covers {body['size']:,} entries but there are only {tree.size:,}: "
                    "entries were removed.",
                )
            try:
                state.add(line)
            except EntryProblem as problem:
                raise Failure(
                    f"第 {state.count:,} 条记录（属{zh}）{problem.zh}",
                    f"Entry {state.count:,} (in {en}) {problem.en}",
                ) from None
            tree.append(leaf_hash(line))
        if tree.root(body["size"]).hex() != body["root"]:
            raise Failure(
                f"{zh}不再成立：由前 {body['size']:,} 条记录重新计算的根哈希与签署的不同，"
                "这些记录在签署后被改动、删除或调换了顺序，或者检查点被改写了。",
                f"{en} no longer holds: the root recomputed from its {body['size']:,} entries "
                "differs from the signed one; entries were changed, removed or reordered after "
                "it was signed, or the checkpoint was rewritten.",
            )
        if not verify_consistency(
            previous["size"],
            body["size"],
            bytes.fromhex(previous["root"]),
            bytes.fromhex(body["root"]),
            proof,
        ):
            raise Failure(
                f"{zh}与前一个检查点的一致性证明不成立：它不是在前一个检查点的基础上追加的。",
                f"{en}: the consistency proof from the checkpoint before does not hold; it does "
                "not extend it.",
            )
        previous = body
    if next(lines, None) is not None:
        raise Failure(
            f"entries.jsonl 在最后一个检查点（{previous['size']:,} 条）之后还有记录，未经签署。",
            f"entries.jsonl has entries after the last checkpoint (size {previous['size']:,}): "
            "they are not signed.",
        )
    report.ok(
        f"{len(checkpoints)} 个检查点签名有效，每个都在前一个的基础上追加（一致性证明成立）。",
        f"{len(checkpoints)} checkpoints: every signature verifies and each extends the one "
        "before (consistency proofs hold).",
    )
    report.ok(
        f"由 {tree.size:,} 条记录重新计算的根哈希与每个检查点相符。",
        f"The roots recomputed from the {tree.size:,} entries match every checkpoint.",
    )
    return LogResult(state, tree, list(checkpoints))


# --- The recount and the official CSV, written here independently of the site --------------


@dataclass(frozen=True)
class TallyRow:
    number: int
    title: str
    unit: str
    votes: int
    share: float
    rank: int


@dataclass(frozen=True)
class Recount:
    rows: list
    ballots: int
    voided: int
    votes: int


def recount(poll, counts, ballots, voided):
    """Rank the entries: most votes first, then by number; equal votes share a rank (1, 2, 2, 4).

    The entries listed are those the poll offered and any other that has counted votes.
    """
    listed = [e for e in poll["entries"] if e["offered"] or counts.get(e["number"], 0)]
    ordered = sorted(listed, key=lambda e: (-counts.get(e["number"], 0), e["number"]))
    total = sum(counts.values())
    rows, rank, previous = [], 0, None
    for position, entry in enumerate(ordered, 1):
        votes = counts.get(entry["number"], 0)
        if votes != previous:
            rank, previous = position, votes
        share = votes / total if total else 0.0
        rows.append(TallyRow(entry["number"], entry["title"], entry["unit"], votes, share, rank))
    return Recount(rows, ballots, voided, total)


TALLY_HEADER = ["序号", "标题", "单位", "票数", "占比", "名次"]
# A cell starting with one of these is a formula to Excel; the site's export prefixes a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def tally_csv(poll, result, exported_at, status):
    """The official tally export's bytes: UTF-8 with a BOM, Excel's CSV dialect, the rows, then
    the 导出说明 block. exported_at and status are the export's own (poll.json's tally_export)."""
    rows = [TALLY_HEADER]
    rows += [[r.number, r.title, r.unit, r.votes, f"{r.share:.2%}", r.rank] for r in result.rows]
    rows += [
        [],
        ["导出说明"],
        ["投票活动", poll["title"]],
        ["投票状态", status],
        ["导出时间（北京时间）", beijing(exported_at)],
        ["有效选票", result.ballots],
        ["已作废选票（不计入）", result.voided],
        ["有效票数", result.votes],
        ["占比", "票数 ÷ 有效票数；名次相同表示票数相同"],
    ]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([_cell(cell) for cell in row])
    return out.getvalue().encode("utf-8")


def compare_tally(expected, actual):
    """Raise Failure naming the first cell of tally.csv that differs from the recount."""
    if expected == actual:
        return
    try:
        theirs = list(csv.reader(io.StringIO(actual.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error):
        raise Failure("tally.csv 无法读取。", "tally.csv cannot be read.") from None
    ours = list(csv.reader(io.StringIO(expected.decode("utf-8-sig"))))
    table_end = ours.index([])
    for line, (mine, given) in enumerate(zip(ours, theirs, strict=False), 1):
        width = max(len(mine), len(given))
        mine, given = mine + [""] * (width - len(mine)), given + [""] * (width - len(given))
        for column, (a, b) in enumerate(zip(mine, given, strict=True)):
            if a == b:
                continue
            # Name the cell as a reader of the sheet would: the column's heading in the table,
            # the row's label in the 导出说明 block below it.
            if 1 < line <= table_end and column < len(TALLY_HEADER):
                label = f"序号 {mine[0]} 的“{TALLY_HEADER[column]}”"
                label_en = f"entry {mine[0]}, {TALLY_HEADER[column]}"
            else:
                label, label_en = f"“{mine[0]}”", mine[0]
            raise Failure(
                f"tally.csv 第 {line} 行{label}为“{b}”，重新计票应为“{a}”。",
                f"tally.csv line {line} ({label_en}) reads {b!r}; the recount gives {a!r}.",
            )
    if len(ours) != len(theirs):
        raise Failure(
            f"tally.csv 有 {len(theirs)} 行，重新计票应为 {len(ours)} 行。",
            f"tally.csv has {len(theirs)} lines; the recount gives {len(ours)}.",
        )
    raise Failure(
        "tally.csv 的内容与重新计票相同，但字节不同（编码、引号或换行）。",
        "tally.csv reads the same as the recount but its bytes differ (encoding, quotes or line "
        "ends).",
    )


# --- Reading a closing package --------------------------------------------------------------


class Report:
    """Prints each check as it passes, in Chinese then English."""

    def __init__(self, write=None):
        self.write = write or (lambda text: print(text, flush=True))

    def line(self, zh, en=""):
        self.write(zh if not en else f"{zh}\n    {en}")

    def ok(self, zh, en):
        self.write(f"[通过] {zh}\n       OK: {en}")

    def failed(self, failure):
        self.write(f"[未通过] {failure.zh}\n         FAILED: {failure.en}")


def _read(zf, name):
    try:
        return zf.read(name)
    except KeyError:
        raise Failure(f"包中缺少 {name}。", f"The package has no {name}.") from None
    except (zipfile.BadZipFile, OSError):
        raise Failure(f"包中的 {name} 已损坏。", f"{name} in the package is damaged.") from None


def _digest(zf, name):
    digest, size = hashlib.sha256(), 0
    try:
        with zf.open(name) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError):
        raise Failure(f"包中的 {name} 已损坏。", f"{name} in the package is damaged.") from None
    return digest.hexdigest(), size


def _json(data, name):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Failure(f"{name} 不是有效的 JSON。", f"{name} is not valid JSON.") from None


def check_manifest(zf, public_key, report):
    """The manifest's signature, then every file against it; returns the manifest."""
    manifest_bytes = _read(zf, "manifest.json")
    signature = _read(zf, "manifest.sig").decode("ascii", "replace").strip()
    if not signature_valid(public_key, signature, manifest_message(manifest_bytes)):
        raise Failure(
            "清单（manifest.json）的签名无效：包在签署后被改动过，或公钥被调换。",
            "The manifest's signature does not verify: the package was changed after it was "
            "signed, or its public key was swapped.",
        )
    manifest = _json(manifest_bytes, "manifest.json")
    if not isinstance(manifest, dict):
        manifest = {}
    files = manifest.get("files")
    if manifest.get("format") != FORMAT or not isinstance(files, dict):
        raise Failure(
            f"manifest.json 不是 {FORMAT} 格式。", f"manifest.json is not in the {FORMAT} format."
        )
    names = zf.namelist()
    if len(names) != len(set(names)):
        raise Failure("包中有重名的文件。", "The package holds two files of the same name.")
    for name in PACKAGE_FILES:
        if name not in files:
            raise Failure(f"清单中没有列出 {name}。", f"The manifest does not list {name}.")
    for name in names:
        if name not in files and name not in SIGNATURE_FILES:
            raise Failure(
                f"包中的 {name} 不在清单中。", f"{name} is in the package but not in the manifest."
            )
    for name, facts in sorted(files.items()):
        if name not in names:
            raise Failure(f"清单列出的 {name} 不在包中。", f"{name} is in the manifest, not here.")
        digest, size = _digest(zf, name)
        if not isinstance(facts, dict) or facts.get("sha256") != digest:
            raise Failure(
                f"{name} 的 SHA-256 与清单不符：该文件在签署后被改动过。",
                f"The SHA-256 of {name} does not match the manifest: it was changed after signing.",
            )
        if facts.get("bytes") != size:
            raise Failure(f"{name} 的大小与清单不符。", f"The size of {name} does not match.")
    report.ok(
        f"清单签名有效，{len(files)} 个文件的 SHA-256 均与清单相符。",
        f"The manifest's signature verifies and the SHA-256 of its {len(files)} files match.",
    )
    return manifest


def _require(condition):
    # Not assert: `python -O` would skip every check written with it.
    if not condition:
        raise ValueError


def check_poll(poll):
    """poll.json has what the checks need: the entries, the rules, the export's facts."""
    try:
        _require(isinstance(poll, dict) and poll.get("format") == FORMAT)
        _require(isinstance(poll["poll"], str) and isinstance(poll["title"], str))
        _require(type(poll["max_choices"]) is int and poll["max_choices"] >= 1)
        entries = poll["entries"]
        _require(isinstance(entries, list))
        for entry in entries:
            _require(type(entry["number"]) is int and type(entry["offered"]) is bool)
            _require(isinstance(entry["title"], str) and isinstance(entry["unit"], str))
        _require(len({e["number"] for e in entries}) == len(entries))
        _require(isinstance(poll["void_reasons"], dict))
        _require(all(isinstance(v, str) for v in poll["void_reasons"].values()))
        parse_time(poll["tally_export"]["exported_at"])
        _require(isinstance(poll["tally_export"]["status"], str))
    except (KeyError, TypeError, ValueError):
        raise Failure(
            "poll.json 缺少核验所需的内容或格式不对。",
            "poll.json lacks what the checks need or is malformed.",
        ) from None
    return poll


def _entry_lines(zf):
    # Read in large blocks and split: zipfile's readline() is slow at a million lines.
    number, rest = 0, b""
    with zf.open("entries.jsonl") as stream:
        while block := stream.read(1 << 20):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                number += 1
                if line.endswith(b"\r"):
                    raise Failure(
                        f"entries.jsonl 第 {number} 行以 CR LF 结束，应只用 LF。",
                        f"Line {number} of entries.jsonl ends with CR LF, not LF alone.",
                    )
                yield line
    if rest:
        raise Failure(
            f"entries.jsonl 第 {number + 1} 行没有以换行符（LF）结束。",
            f"Line {number + 1} of entries.jsonl does not end with a line feed.",
        )


def _checkpoint_lines(data):
    checkpoints = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        try:
            checkpoints.append(json.loads(line))
        except ValueError:
            raise Failure(
                f"checkpoints.jsonl 第 {number} 行不是有效的 JSON。",
                f"Line {number} of checkpoints.jsonl is not valid JSON.",
            ) from None
    return checkpoints


def check_saved_checkpoint(saved, poll, public_key, log, report):
    """A checkpoint someone kept during voting: same key, listed, and a prefix of the final log."""
    if isinstance(saved, dict) and isinstance(saved.get("checkpoint"), dict):
        document, saved = saved, saved["checkpoint"]  # a receipt's proof holds its checkpoint
    else:
        document = None
    try:
        body = checkpoint_body(saved)
    except ValueError as error:
        raise Failure(
            f"你保存的检查点格式不对：{error}。", f"The saved checkpoint is malformed: {error}."
        ) from None
    when = beijing(parse_time(body["time"]))
    zh = f"你保存的检查点（{when}，{body['size']:,} 条记录）"
    en = f"The saved checkpoint ({when}, size {body['size']:,})"
    if body["poll"] != poll["poll"]:
        raise Failure(f"{zh}属于另一个投票活动。", f"{en} belongs to another poll.")
    if not signature_valid(public_key, saved["signature"], checkpoint_message(body)):
        raise Failure(
            f"{zh}不是用本包的密钥签署的：要么文件被改动过，要么发布方更换了密钥。",
            f"{en} was not signed by this package's key: either the file was altered or the "
            "office changed its key.",
        )
    final = log.checkpoints[-1]
    if body["size"] > log.tree.size:
        raise Failure(
            f"{zh}比最终记录（{log.tree.size:,} 条）还多：有记录被删除。",
            f"{en} is larger than the final log (size {log.tree.size:,}): entries were removed.",
        )
    proof = log.tree.consistency_proof(body["size"])
    old_root, final_root = bytes.fromhex(body["root"]), bytes.fromhex(final["root"])
    if not verify_consistency(body["size"], log.tree.size, old_root, final_root, proof):
        raise Failure(
            f"{zh}不是最终记录的前缀：记录在你保存它之后被改写过。",
            f"{en} is not a prefix of the final log: the log was rewritten after you saved it.",
        )
    listed = any(
        c["signature"] == saved["signature"] and checkpoint_body(c) == body for c in log.checkpoints
    )
    if not listed:
        raise Failure(
            f"{zh}没有列在包的检查点中：发布方删去了一个检查点。",
            f"{en} is not among the package's checkpoints: the office dropped a checkpoint.",
        )
    report.ok(
        f"{zh}签名有效，列在包中，且是最终记录的前缀（一致性证明 {len(proof)} 个哈希）。",
        f"{en} is signed by the same key, listed, and a prefix of the final log (a consistency "
        f"proof of {len(proof)} hashes).",
    )
    if document is not None:
        check_receipt_proof(document, public_key)
        report.ok(
            "你保存的回执证明在该检查点下仍然成立。",
            "The receipt proof you saved still holds against that checkpoint.",
        )


def check_receipt_proof(document, public_key):
    """A receipt's proof as /receipt/ offers it for download (format in docs/record.md)."""
    try:
        _require(document.get("format") == RECEIPT_PROOF_FORMAT)
        body = checkpoint_body(document["checkpoint"])
        root = bytes.fromhex(body["root"])
        items = document["entries"]
        _require(isinstance(items, list) and items)
        for item in items:
            _require(item["entry"]["receipt_hash"] == document["receipt_hash"])
            _require(type(item["index"]) is int)
            proof = _hashes(item["inclusion_proof"], "inclusion_proof")
            leaf = leaf_hash(canonical_json(item["entry"]))
            _require(verify_inclusion(leaf, item["index"], body["size"], proof, root))
    except (AttributeError, KeyError, TypeError, ValueError):
        raise Failure(
            "回执证明不成立：其中的记录不在它所附的检查点中。",
            "The receipt proof does not hold: its entries are not in its checkpoint.",
        ) from None
    signature = document["checkpoint"]["signature"]
    if not signature_valid(public_key, signature, checkpoint_message(body)):
        raise Failure("回执证明中的检查点签名无效。", "The proof's checkpoint is not signed.")


def check_receipt(code, poll, log, report):
    receipt = normalise_receipt(code)
    digest = receipt_hash(receipt)
    state, final = log.state, log.checkpoints[-1]
    ballot = state.ballots.get(digest)
    if ballot is None:
        raise ReceiptNotFound(
            f"回执 {format_receipt(receipt)} 不在公开记录中（请核对是否输入有误）。",
            f"Receipt {format_receipt(receipt)} is not in the record (check it was typed right).",
        )
    titles = {e["number"]: e["title"] for e in poll["entries"]}
    index, choices = ballot
    chosen = "；".join(f"{n} {titles[n]}" for n in choices)
    zh, en = f"回执 {format_receipt(receipt)}", f"Receipt {format_receipt(receipt)}"
    proofs = [(index, {"type": "ballot", "poll": poll["poll"], "receipt_hash": digest,
               "choices": list(choices)})]  # fmt: skip
    void = state.voids.get(digest)
    if void is not None:
        void_index, reason, voiding = void
        proofs.append((void_index, {"type": "void", "poll": poll["poll"], "receipt_hash": digest,
                       "reason": reason, "voiding": voiding}))  # fmt: skip
    root, size = bytes.fromhex(final["root"]), final["size"]
    for entry_number, entry in proofs:
        proof = log.tree.inclusion_proof(entry_number - 1, size)
        leaf = leaf_hash(canonical_json(entry))
        if not verify_inclusion(leaf, entry_number - 1, size, proof, root):
            raise Failure(f"{zh}的包含证明不成立。", f"{en}: the inclusion proof does not hold.")
    if void is None:
        report.ok(
            f"{zh}：已计入。所选：{chosen}。（第 {index:,} 条记录，包含证明对最后一个检查点成立）",
            f"{en}: counted. Choices: {', '.join(map(str, choices))}. (Entry {index:,}; its "
            "inclusion proof holds against the last checkpoint.)",
        )
    else:
        label = poll["void_reasons"][void[1]]
        report.ok(
            f"{zh}：已作废，原因：{label}（第 {void[2]} 批作废）。所选：{chosen}。"
            f"（第 {index:,} 条和第 {void[0]:,} 条记录，包含证明均成立）",
            f"{en}: voided, reason: {void[1]} (voiding {void[2]}). Choices: "
            f"{', '.join(map(str, choices))}. (Entries {index:,} and {void[0]:,}; both inclusion "
            "proofs hold.)",
        )


def verify_package(path, *, receipt=None, saved=None, fingerprint=None, report=None):
    """Every check of a closing package, in order; raises Failure at the first that fails."""
    report = report or Report()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise Failure("这不是可读取的 zip 包。", "This is not a readable zip file.") from None
    with zf:
        public_key = load_public_key(_read(zf, "public_key.pem"))
        key_fingerprint = public_key_fingerprint(public_key)
        report.line(f"公钥指纹 / Key fingerprint: {key_fingerprint}")
        if fingerprint is not None and _bare_fingerprint(fingerprint) != _bare_fingerprint(
            key_fingerprint
        ):
            raise Failure(
                "包中公钥的指纹与你给出的不同：这不是发布方公布的密钥。",
                "The package's key has another fingerprint than the one you gave: it is not the "
                "key the office published.",
            )
        manifest = check_manifest(zf, public_key, report)
        poll = check_poll(_json(_read(zf, "poll.json"), "poll.json"))
        if manifest.get("poll") != poll["poll"]:
            raise Failure("清单与 poll.json 属于不同的投票活动。", "manifest and poll.json differ.")
        report.line(f"投票活动 / Poll: {poll['title']} ({poll['poll']})")
        checkpoints = _checkpoint_lines(_read(zf, "checkpoints.jsonl"))
        log = verify_log(poll, _entry_lines(zf), checkpoints, public_key, report)
        if saved is not None:
            check_saved_checkpoint(saved, poll, public_key, log, report)
        counts, ballots, voided = log.state.counts()
        result = recount(poll, counts, ballots, voided)
        report.ok(
            f"重新计票：有效选票 {ballots:,} 张，作废 {voided:,} 张，有效票数 {result.votes:,}。",
            f"Recount: {ballots:,} ballots counted, {voided:,} voided, {result.votes:,} votes.",
        )
        export = poll["tally_export"]
        expected = tally_csv(poll, result, parse_time(export["exported_at"]), export["status"])
        compare_tally(expected, _read(zf, "tally.csv"))
        exported_at = beijing(parse_time(export["exported_at"]))
        report.ok(
            f"tally.csv 与重新计票逐字节相同（导出于 {exported_at}）。",
            "tally.csv is byte for byte the recount's export at the same time.",
        )
        state = log.state
        if state.certification is not None:
            status = (f"最终结果（已于 {beijing(state.certification)} 确认）",
                      f"final (certified {beijing(state.certification)})")  # fmt: skip
        elif state.closed_at is not None:
            status = ("初步结果（投票已结束，尚未确认）", "preliminary (closed, not yet certified)")
        else:
            status = ("投票尚未结束", "voting has not closed")
        report.line(f"结果 / Result: {status[0]} / {status[1]}")
        for row in result.rows:
            report.write(
                f"    第{row.rank}名  {row.number:>2}  {row.votes:>8,} 票"
                f"  {row.share:7.2%}  {row.title}"
            )
        final = log.checkpoints[-1]
        report.line(f"最终根哈希 / Final root ({final['size']:,}): {final['root']}")
        if receipt is not None:
            check_receipt(receipt, poll, log, report)
    return log, result


def main(argv=None):
    if hasattr(sys.stdout, "reconfigure"):  # a console that cannot show a character gets "?"
        sys.stdout.reconfigure(errors="replace")
    parser = argparse.ArgumentParser(
        prog="verify_record.py",
        description="核验投票活动的公开记录包 · Verify a poll's closing package.",
    )
    parser.add_argument("package", help="closing package (.zip) · 公开记录包")
    parser.add_argument("--receipt", metavar="CODE", help="a receipt to look up · 要核对的回执编号")
    parser.add_argument(
        "--checkpoint", metavar="SAVED.json", help="a checkpoint saved during voting · 保存的检查点"
    )
    parser.add_argument(
        "--fingerprint", metavar="HEX", help="the key fingerprint the office published · 公钥指纹"
    )
    args = parser.parse_args(argv)
    saved = None
    if args.checkpoint:
        try:
            saved = json.loads(Path(args.checkpoint).read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            print(f"无法读取 {args.checkpoint}：{error}\nCannot read {args.checkpoint}: {error}")
            return EXIT_USAGE
    if not Path(args.package).is_file():
        print(f"找不到文件 {args.package}\nNo such file: {args.package}")
        return EXIT_USAGE
    report = Report()
    report.line("公开记录核验", "Public record verification")
    try:
        verify_package(
            args.package,
            receipt=args.receipt,
            saved=saved,
            fingerprint=args.fingerprint,
            report=report,
        )
    except Failure as failure:
        report.failed(failure)
        if isinstance(failure, ReceiptNotFound):
            report.line(
                "记录本身核验通过，但没有找到该回执。",
                "The record verifies; the receipt is not in it.",
            )
        else:
            report.line(
                "核验未通过：以上是发现的第一个问题。",
                "VERIFICATION FAILED at the first problem above.",
            )
        return failure.exit_code
    report.line("核验通过。", "VERIFIED: every check passed.")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
