"""What /receipt/ answers for a receipt code: the record's word, with its proof checked."""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from ballots.models import Ballot, VoidReason
from reforms.models import Reform
from tools.verify_record import normalise_receipt, receipt_hash

from .models import Entry, EntryType
from .publish import next_checkpoint_due, record_signer, tree
from .receipts import receipt_proof_document, receipt_proof_holds
from .signing import SigningKeyError

COUNTED, VOIDED, PENDING, UNKNOWN = "counted", "voided", "pending", "unknown"


@dataclass
class ReceiptLookup:
    status: str
    poll: object = None
    choices: list = field(default_factory=list)  # Reform rows, in number order
    reason: str = ""  # the voiding's category label
    checkpoint: object = None  # the Checkpoint the proof is against
    document: dict | None = None  # the proof, as downloaded
    proof_holds: bool = False
    voiding_pending: bool = False  # voided in the database, not yet in the record
    next_due: object = None


def look_up_receipt(code):
    receipt = normalise_receipt(code)
    digest = receipt_hash(receipt)
    found = list(Entry.objects.filter(receipt_hash=digest).select_related("log__poll"))
    if found:
        log = found[0].log
        checkpoint = log.checkpoints.order_by("-number").first()
        # Entries appended after that checkpoint was read are not yet provable: read in this
        # order, the tiles always reach at least the checkpoint's size.
        found = sorted((e for e in found if e.index < checkpoint.size), key=lambda e: e.index)
    ballot_entry = next((e for e in found if e.type == EntryType.BALLOT), None)
    if ballot_entry is None:
        ballot = Ballot.objects.filter(receipt=receipt).select_related("poll").first()
        if ballot is None:
            return ReceiptLookup(UNKNOWN)
        return ReceiptLookup(PENDING, poll=ballot.poll, next_due=next_checkpoint_due())
    poll = log.poll
    void = next((e for e in found if e.type == EntryType.VOID), None)
    numbers = ballot_entry.content["choices"]
    lookup = ReceiptLookup(
        VOIDED if void else COUNTED,
        poll=poll,
        choices=list(Reform.objects.filter(number__in=numbers).order_by("number")),
        checkpoint=checkpoint,
    )
    if void is not None:
        lookup.reason = VoidReason(void.content["reason"]).label
    else:
        voided = Ballot.objects.filter(receipt=receipt, voided_at__isnull=False).exists()
        lookup.voiding_pending = voided
        lookup.next_due = next_checkpoint_due()
    try:
        signer = record_signer()
    except SigningKeyError:
        return lookup  # no key on this server: the proof cannot be checked here
    lookup.document = receipt_proof_document(
        receipt=receipt,
        entries=[(e.index, e.line) for e in found],
        log=tree(log, checkpoint.size),
        checkpoint=checkpoint.signed(poll.slug),
        fingerprint=signer.fingerprint,
    )
    lookup.proof_holds = receipt_proof_holds(lookup.document, signer.public_key_pem)
    return lookup


UNKNOWN_MESSAGE = _(
    "未找到该回执编号。请核对后重新输入：回执编号为12位字母和数字（不含0、1、I、L、O），"
    "可含连字符或空格，不区分大小写。"
)
