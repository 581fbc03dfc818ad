"""The closing package of a certified poll, gathered from the database (docs/record.md).

Built from the log's entries and checkpoints as stored, the official tally export of the ballots
as they are, the 公示 document, and the key: if any of them was altered, the verifier says
where. The package's time is the certification's, so the same data gives the same zip.
"""

import hashlib
import tempfile

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import translation

from ballots import export
from ballots.models import PollStatus, VoidReason
from ballots.tally import recount
from tools.verify_record import format_time

from .models import ClosingPackage, Entry, Log, PackageChunk
from .package import OfferedEntry, PollFacts, build_closing_package
from .pdf import result_pdf, staff_name
from .publish import record_signer

CHUNK = 1 << 20


class NotCertified(Exception):
    """A closing package is made once the result is certified and its entry is in the log."""


def poll_facts(poll, result=None):
    result = result or recount(poll)
    offered = set(poll.reforms.values_list("pk", flat=True))
    with translation.override("zh-hans"):
        reasons = {value: str(label) for value, label in VoidReason.choices}
    return PollFacts(
        slug=poll.slug,
        title=poll.title,
        intro=poll.intro,
        max_choices=poll.max_choices,
        entries=[
            OfferedEntry(
                row.reform.number, row.reform.title, row.reform.unit, row.reform.pk in offered
            )
            for row in result.rows
        ],
        void_reasons=reasons,
        opens_at=poll.opens_at,
        closes_at=poll.closes_at,
        closed_at=poll.closed_at,
        publicity_ends_at=poll.publicity_ends_at,
        certified_at=poll.certified_at,
        require_id_number=poll.require_id_number,
        id_region_prefixes=poll.region_prefixes,
        extra={
            "closed_by": staff_name(poll.closed_by),
            "certified_by": staff_name(poll.certified_by),
            # The published review (issue 14): each voided batch, no network, no 号段.
            "voidings": [
                {
                    "count": v.count,
                    "reason": v.reason,
                    "rule": v.rule,
                    "first_cast_at": format_time(v.first_cast_at) if v.first_cast_at else None,
                    "last_cast_at": format_time(v.last_cast_at) if v.last_cast_at else None,
                }
                for v in poll.voidings.order_by("at", "pk")
            ],
        },
    )


def entry_lines(log):
    rows = Entry.objects.filter(log=log).order_by("index").values_list("data", flat=True)
    for data in rows.iterator(chunk_size=20_000):
        yield bytes(data)


def write_closing_package(poll, output):
    """Write the poll's closing package to output (a path or a binary file)."""
    poll.refresh_from_db()
    log = Log.objects.filter(poll=poll).first()
    if poll.status != PollStatus.CERTIFIED or log is None or not log.has_certification:
        raise NotCertified(poll.slug)
    signer = record_signer()
    moment = poll.certified_at
    with translation.override("zh-hans"):
        # The official export, in its own language whatever the request's: the verifier
        # regenerates these bytes from the status and time recorded in poll.json.
        status = str(poll.status_label)
        tally_csv = "".join(export.tally_lines(poll, moment)).encode("utf-8")
        result = recount(poll)
        checkpoints = [c.signed(poll.slug) for c in log.checkpoints.order_by("number")]
        voided = dict(
            poll.ballots.filter(voided_at__isnull=False)
            .order_by()
            .values_list("void_reason")
            .annotate(n=Count("pk"))
        )
        pdf = result_pdf(poll, result, voided, checkpoints[-1], signer.fingerprint)
    return build_closing_package(
        output,
        poll=poll_facts(poll, result),
        entries=entry_lines(log),
        checkpoints=checkpoints,
        tally_csv=tally_csv,
        tally_exported_at=moment,
        tally_status=status,
        signer=signer,
        created_at=moment,
        result_pdf=pdf,
    )


def store_closing_package(poll):
    """Build the package once and keep it (the one /record/ and admin offer). Returns it."""
    log = Log.objects.filter(poll=poll).first()
    existing = ClosingPackage.objects.filter(log=log).first() if log else None
    if existing is not None:
        return existing
    with tempfile.TemporaryFile() as file:
        write_closing_package(poll, file)
        size = file.tell()
        file.seek(0)
        digest = hashlib.sha256()
        try:
            with transaction.atomic():
                package = ClosingPackage.objects.create(
                    log=log, created_at=poll.certified_at, size=size, sha256=""
                )
                index = 0
                while data := file.read(CHUNK):
                    digest.update(data)
                    PackageChunk.objects.create(package=package, index=index, data=data)
                    index += 1
                package.sha256 = digest.hexdigest()
                package.save(update_fields=["sha256"])
        except IntegrityError:  # built meanwhile by another process: keep that one
            return ClosingPackage.objects.get(log=log)
    return package
