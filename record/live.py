"""`manage.py verify_record`: the standalone verifier's checks on the live database, plus the one
only the site can make: that the ballots table still says what the log says.

The log is checked as a package's is (tools.verify_record.verify_log: signatures, roots,
consistency, the rules of the log); then every ballot and voiding the log has taken in is
compared with its entry. A ballot deleted or changed in SQL after its checkpoint, a voiding
undone or added, is named by the first checkpoint whose entries the database no longer matches.
"""

from django.db.models import Q
from django.utils import timezone

from ballots.models import Ballot, Choice
from tools.verify_record import (
    Failure,
    _checkpoint_name,
    load_public_key,
    receipt_hash,
    verify_log,
)

from . import entries
from .closing import poll_facts
from .models import Log
from .package import poll_document
from .publish import record_signer, tree


def _checkpoints(log, slug):
    checkpoints = list(log.checkpoints.order_by("number"))
    for expected, checkpoint in enumerate(checkpoints, 1):
        if checkpoint.number != expected:
            raise Failure(
                f"第 {expected} 个检查点已从数据库中删除（现存检查点从第 {checkpoint.number} 个"
                "接续）：已发布的检查点不得删除。",
                f"Checkpoint {expected} was deleted from the database (the next one kept is "
                f"number {checkpoint.number}): a published checkpoint may never go.",
            )
    return [c.published(slug) for c in checkpoints]


def _lines(log):
    """The entries in log order; a missing index (a row deleted in SQL) ends the log there."""
    rows = log.entries.order_by("index").values_list("index", "data").iterator(chunk_size=20_000)
    try:
        for expected, (index, data) in enumerate(rows):
            if index != expected:
                return
            yield bytes(data)
    finally:
        rows.close()  # the database cursor, at once, even when a check stops half-way


def _database_entries(poll, log):
    """{receipt hash: (ballot entry bytes, void entry bytes or None)} of what the log took in."""
    found = {}
    rows = (
        Choice.objects.filter(ballot__poll=poll, ballot_id__lte=log.ballots_through)
        .order_by("ballot_id")
        .values_list("ballot_id", "ballot__receipt", "reform__number")
        .iterator(chunk_size=20_000)
    )
    current, receipt, numbers = None, None, []
    for ballot_id, ballot_receipt, number in rows:
        if ballot_id != current and current is not None:
            found[receipt_hash(receipt)] = entries.ballot_entry(poll.slug, receipt, numbers)
            numbers = []
        current, receipt = ballot_id, ballot_receipt
        numbers.append(number)
    if current is not None:
        found[receipt_hash(receipt)] = entries.ballot_entry(poll.slug, receipt, numbers)
    # A ballot whose choices were all deleted in SQL still has its row: it counts as changed.
    bare = Ballot.objects.filter(poll=poll, pk__lte=log.ballots_through, choices__isnull=True)
    for receipt in bare.values_list("receipt", flat=True):
        found[receipt_hash(receipt)] = b"-"
    voids = {}
    rows = Ballot.objects.filter(
        Q(voiding_id__lte=log.voidings_through) | Q(voiding__isnull=True),
        poll=poll,
        voided_at__isnull=False,
    ).values_list("receipt", "void_reason", "voiding_id")
    for receipt, reason, voiding in rows.iterator(chunk_size=20_000):
        # Voided in SQL, without a voiding: no entry can match it.
        line = entries.void_entry(poll.slug, receipt, reason, voiding) if voiding else b"-"
        voids[receipt_hash(receipt)] = line
    return found, voids


def _log_entries(log):
    ballots, voids = {}, {}
    rows = log.entries.filter(type__in=["ballot", "void"]).values_list(
        "index", "type", "receipt_hash", "data"
    )
    for index, kind, digest, data in rows.iterator(chunk_size=20_000):
        (ballots if kind == "ballot" else voids)[digest] = (index, bytes(data))
    return ballots, voids


def _first_difference(poll, log):
    """(entry index, zh, en) of the first entry the database no longer matches, or None."""
    database, database_voids = _database_entries(poll, log)
    logged, logged_voids = _log_entries(log)
    problems = []
    for digest, (index, line) in logged.items():
        if digest not in database:
            problems.append((index, "该选票已从数据库中删除", "its ballot was deleted"))
        elif database[digest] != line:
            problems.append(
                (index, "数据库中该选票的所选项已被改动", "its ballot's choices changed")
            )
    for digest, (index, line) in logged_voids.items():
        if database_voids.get(digest) != line:
            problems.append((index, "数据库中该选票的作废已被撤销或改动", "its voiding was undone"))
    first = min(problems, default=None)
    missing = [d for d in database if d not in logged]
    missing += [d for d in database_voids if d not in logged_voids]
    if first is None and missing:
        return None, missing
    return first, missing


def verify_live(poll, report):
    """Every check, in order; raises Failure (tools.verify_record) at the first that fails."""
    log = Log.objects.filter(poll=poll).first()
    if log is None or not log.checkpoints.exists():
        raise Failure("该投票活动还没有公开记录。", f"{poll.slug} has no public record yet.")
    signer = record_signer()
    public_key = load_public_key(signer.public_key_pem)
    report.line(f"公钥指纹 / Key fingerprint: {signer.fingerprint}")
    checkpoints = _checkpoints(log, poll.slug)
    document = poll_document(
        poll_facts(poll), tally_exported_at=timezone.now(), tally_status=str(poll.status_label)
    )
    lines = _lines(log)
    try:
        result = verify_log(document, lines, checkpoints, public_key, report)
    finally:
        lines.close()
    last = checkpoints[-1]
    if log.size != last["size"] or tree(log).root(last["size"]).hex() != last["root"]:
        zh, en = _checkpoint_name(len(checkpoints), last)
        raise Failure(
            f"{zh}与数据库中存储的默克尔树不符：树的数据被改动过。",
            f"{en} does not match the tree stored in the database: its tiles were altered.",
        )
    report.ok("数据库中存储的默克尔树与最后一个检查点相符。", "The stored tree matches.")
    first, missing = _first_difference(poll, log)
    if first is not None:
        index, zh_what, en_what = first
        number = next(n for n, c in enumerate(checkpoints, 1) if c["size"] > index)
        zh, en = _checkpoint_name(number, checkpoints[number - 1])
        raise Failure(
            f"{zh}不再成立：第 {index + 1:,} 条记录与数据库不符，{zh_what}。",
            f"{en} no longer holds: entry {index + 1:,} does not match the database; {en_what}.",
        )
    if missing:
        raise Failure(
            f"数据库中有 {len(missing):,} 张选票或作废不在它们应在的检查点中：它们是事后写入的。",
            f"{len(missing):,} ballots or voidings in the database are missing from the "
            "checkpoints that should hold them: they were written in afterwards.",
        )
    _, ballots, voided = result.state.counts()
    report.ok(
        f"数据库中的选票与公开记录逐条相符（{ballots:,} 张有效，{voided:,} 张作废）。",
        f"The ballots in the database match the record one by one ({ballots:,} counted, "
        f"{voided:,} voided).",
    )
    pending = Ballot.objects.filter(poll=poll, pk__gt=log.ballots_through).count()
    if pending:
        report.line(
            f"另有 {pending:,} 张选票将在下一个检查点写入公开记录。",
            f"{pending:,} more ballots enter the record at the next checkpoint.",
        )
    return result
