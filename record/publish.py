"""Publishing a checkpoint: append what the poll did since the last one, sign, store.

The hourly timer (`manage.py publish_checkpoint`), the close and the certification (signals
from ballots, record.apps) all come here. One writer at a time per log: the log's row lock.
"""

import functools
import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from ballots.models import Ballot, Choice, PollStatus
from ballots.tally import recount

from . import entries
from .merkle import MerkleLog
from .models import Checkpoint, Entry, EntryType, Log, Tile
from .signing import Signer

logger = logging.getLogger(__name__)

# A checkpoint was stored and committed: sender=Log, log=, checkpoint=.
checkpoint_published = Signal()


@functools.lru_cache(maxsize=2)
def _signer(value):
    return Signer.from_value(value)


def record_signer():
    """The Signer of RECORD_SIGNING_KEY; SigningKeyError (with the reason) if there is none."""
    return _signer(settings.RECORD_SIGNING_KEY)


class DatabaseTileStore:
    """record.merkle's TileStore over the record_tile table of one log."""

    def __init__(self, log):
        self.log = log

    def read_tiles(self, keys):
        keys = list(keys)
        if not keys:
            return {}
        wanted = Q()
        for level, index in keys:
            wanted |= Q(level=level, index=index)
        rows = Tile.objects.filter(wanted, log=self.log).values_list("level", "index", "hashes")
        return {(level, index): bytes(hashes) for level, index, hashes in rows}

    def write_tiles(self, tiles):
        Tile.objects.bulk_create(
            [
                Tile(log=self.log, level=level, index=index, hashes=hashes)
                for (level, index), hashes in tiles.items()
            ],
            update_conflicts=True,
            unique_fields=["log", "level", "index"],
            update_fields=["hashes"],
        )


def tree(log, size=None):
    """The log's tree, read from its tiles, at `size` (by default the log's)."""
    return MerkleLog(DatabaseTileStore(log), log.size if size is None else size)


def next_checkpoint_due(now=None):
    """When the hourly timer (deploy/systemd/zibo-vote-checkpoint.timer) next publishes."""
    now = timezone.localtime(now or timezone.now())
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _ballot_lines(poll, after, through):
    """Ballot entries of the ballots with ids in (after, through], read in chunks."""
    rows = (
        Choice.objects.filter(ballot__poll=poll, ballot_id__gt=after, ballot_id__lte=through)
        .order_by("ballot_id")
        .values_list("ballot_id", "ballot__receipt", "reform__number")
        .iterator(chunk_size=20_000)
    )
    current, receipt, numbers = None, None, []
    for ballot_id, ballot_receipt, number in rows:
        if ballot_id != current:
            if current is not None:
                yield receipt, entries.ballot_entry(poll.slug, receipt, numbers)
            current, receipt, numbers = ballot_id, ballot_receipt, []
        numbers.append(number)
    if current is not None:
        yield receipt, entries.ballot_entry(poll.slug, receipt, numbers)


def _void_lines(poll, after, through, ended_at):
    """(before the close, after it): void entries of the voidings with ids in (after, through]."""
    before, later = [], []
    rows = Ballot.objects.filter(
        poll=poll, voiding_id__gt=after, voiding_id__lte=through
    ).values_list("receipt", "void_reason", "voiding_id", "voiding__at")
    for receipt, reason, voiding, at in rows.iterator(chunk_size=20_000):
        line = entries.void_entry(poll.slug, receipt, reason, voiding)
        (later if ended_at is not None and at >= ended_at else before).append((receipt, line))
    return before, later


_RECEIPT_HASH = b'"receipt_hash":"'


def _receipt_hash_of(line):
    """The receipt hash a ballot or void entry holds, read back rather than hashed again."""
    start = line.index(_RECEIPT_HASH) + len(_RECEIPT_HASH)
    return line[start : start + 64].decode("ascii")


def _insert_entries(log, new):
    """Store a batch of entries, numbered on from the log's size. COPY on PostgreSQL: the
    ORM's INSERTs take most of a checkpoint's time at a hundred thousand entries."""
    rows = (
        (log.pk, log.size + i, line, kind, _receipt_hash_of(line) if receipt else "")
        for i, (kind, receipt, line) in enumerate(new)
    )
    if connection.vendor == "postgresql":
        columns = "log_id, index, data, type, receipt_hash"
        copy_in = f"COPY record_entry ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(copy_in) as copy:
            for row in rows:
                copy.write_row(row)
        return
    # In slices elsewhere: bulk_create holds every object it is given.
    batch = []
    for log_id, index, data, kind, digest in rows:
        batch.append(Entry(log_id=log_id, index=index, data=data, type=kind, receipt_hash=digest))
        if len(batch) == 5000:
            Entry.objects.bulk_create(batch)
            batch = []
    Entry.objects.bulk_create(batch)


def publish_checkpoint(poll, now=None):
    """Append the poll's ballots and voidings since the last checkpoint (and its close and
    certification, once they happened), sign the new checkpoint and store it.

    Returns the Checkpoint, or None: for a poll that has not opened, and after the
    certification's own checkpoint (nothing can follow it). Raises SigningKeyError without a
    usable RECORD_SIGNING_KEY, before writing anything.
    """
    if poll.status == PollStatus.SCHEDULED:
        return None
    signer = record_signer()
    # First, in a short transaction of its own, what is settled: the ballots and voidings
    # committed for good (Poll.settled_marks holds the poll's row lock for milliseconds, not
    # for the whole checkpoint, so voting goes on while the entries are written).
    last_ballot, last_voiding, ended_at, certified_at = poll.settled_marks()
    log = Log.objects.get_or_create(poll=poll)[0]
    with transaction.atomic():
        # One writer per log: two would each extend the same last tiles. A second publisher
        # waits here, then finds what the first appended (the *_through marks) and adds only
        # what is newer.
        log = Log.objects.select_for_update().get(pk=log.pk)
        if log.has_certification:
            return None
        ballots = list(_ballot_lines(poll, log.ballots_through, last_ballot))
        voids, later_voids = _void_lines(poll, log.voidings_through, last_voiding, ended_at)
        # Ballots in random order, then voidings (a ballot voided in the same hour is already
        # in the log): the order of casting cannot be read off the record (P5).
        new = [(EntryType.BALLOT, receipt, line) for receipt, line in _shuffled(ballots)]
        new += [(EntryType.VOID, receipt, line) for receipt, line in _shuffled(voids)]
        close = ended_at is not None and not log.has_close
        if close:
            new.append((EntryType.CLOSE, None, entries.close_entry(poll.slug, ended_at)))
        new += [(EntryType.VOID, receipt, line) for receipt, line in _shuffled(later_voids)]
        certify = certified_at is not None and (log.has_close or close)
        if certify:
            # The numbers certified are the site's recount of its ballots; the verifier
            # recounts the log and refuses a certification that disagrees with it.
            result = recount(poll)
            votes = {row.reform.number: row.votes for row in result.rows}
            line = entries.certification_entry(
                poll.slug, certified_at, votes, result.ballots, result.voided
            )
            new.append((EntryType.CERTIFICATION, None, line))
        _insert_entries(log, new)
        merkle = tree(log)
        previous = log.checkpoints.order_by("-number").first()
        merkle.append([line for _, _, line in new])
        moment = (now or timezone.now()).replace(microsecond=0)
        if previous is not None and moment < previous.time:
            moment = previous.time  # a clock that stepped back never dates a checkpoint earlier
        signed = signer.checkpoint(
            poll=poll.slug, size=merkle.size, root=merkle.root(), time=moment
        )
        checkpoint = Checkpoint.objects.create(
            log=log,
            number=previous.number + 1 if previous else 1,
            size=merkle.size,
            root=signed["root"],
            time=moment,
            signature=signed["signature"],
            consistency=[
                h.hex() for h in merkle.consistency_proof(previous.size if previous else 0)
            ],
        )
        log.size = merkle.size
        log.ballots_through = max(log.ballots_through, last_ballot)
        log.voidings_through = max(log.voidings_through, last_voiding)
        log.has_close = log.has_close or close
        log.has_certification = certify
        log.save()
        transaction.on_commit(
            partial(checkpoint_published.send, sender=Log, log=log, checkpoint=checkpoint)
        )
    logger.info(
        "Checkpoint %d of %s: %d entries (%d new), root %s",
        checkpoint.number, poll.slug, checkpoint.size, len(new), checkpoint.root,
    )  # fmt: skip
    return checkpoint


def _shuffled(items):
    # entries.batch shuffles with the system's randomness; the receipts travel with the lines.
    return entries.batch(items)
