"""The entries of a poll's public log, as canonical JSON bytes.

Four kinds, every one naming its poll (so an entry cannot be replayed into another poll's log):

    {"choices": [3], "poll": "reform-experiences", "receipt_hash": "…", "type": "ballot"}
    {"poll": "…", "reason": "stuffing", "receipt_hash": "…", "type": "void", "voiding": 7}
    {"at": "2026-11-27T15:30:05+08:00", "poll": "…", "type": "close"}
    {"at": "…", "ballots": 9, "poll": "…", "type": "certification", "voided": 1,
     "votes": [{"number": 1, "votes": 1}, …]}

No entry carries an identity or a time finer than the checkpoint that publishes it (the close
and the certification are public events with their own time). The bytes returned here are the
log: store them as they are; the leaf hash is taken over exactly these bytes.
"""

import secrets

from tools.verify_record import canonical_json, format_time, receipt_hash


def _check_poll(poll):
    if not isinstance(poll, str) or not poll:
        raise ValueError(f"a poll's slug, not {poll!r}")
    return poll


def ballot_entry(poll, receipt, choices):
    """A ballot: its receipt's hash and the entry numbers it chose (distinct, in order)."""
    numbers = [int(number) for number in choices]
    if not numbers or len(set(numbers)) != len(numbers):
        raise ValueError(f"a ballot chooses distinct entries, not {numbers!r}")
    return canonical_json(
        {
            "type": "ballot",
            "poll": _check_poll(poll),
            "receipt_hash": receipt_hash(receipt),
            "choices": sorted(numbers),
        }
    )


def void_entry(poll, receipt, reason, voiding):
    """One ballot taken out of the count: the reason's category and the voiding (batch) number.

    voiding: the public number of the voiding batch (ballots.Voiding's id), so a reader can
    group a wave of voided ballots; the batch's time and count are on the results page.
    """
    if not isinstance(reason, str) or not reason:
        raise ValueError("a voiding needs its reason category")
    if not isinstance(voiding, int) or voiding < 1:
        raise ValueError("a voiding's number is a positive whole number")
    return canonical_json(
        {
            "type": "void",
            "poll": _check_poll(poll),
            "receipt_hash": receipt_hash(receipt),
            "reason": reason,
            "voiding": voiding,
        }
    )


def close_entry(poll, at):
    """The close: no ballot may follow it in the log."""
    return canonical_json({"type": "close", "poll": _check_poll(poll), "at": format_time(at)})


def certification_entry(poll, at, votes, ballots, voided):
    """The certification: the last entry, with the numbers certified (the recount must agree).

    votes: {entry number: counted votes}, including the entries that received none.
    """
    return canonical_json(
        {
            "type": "certification",
            "poll": _check_poll(poll),
            "at": format_time(at),
            "ballots": int(ballots),
            "voided": int(voided),
            "votes": [{"number": int(n), "votes": int(v)} for n, v in sorted(votes.items())],
        }
    )


def batch(ballots, voids=(), *, rng=None):
    """One checkpoint's new entries in log order: the ballots shuffled, then the voidings shuffled.

    Shuffled with the system's randomness so that the order of casting cannot be read off the
    log and matched against who staff saw voting when (P5). Ballots come first so that a ballot
    voided in the same hour is already in the log when its voiding is.
    """
    rng = rng or secrets.SystemRandom()
    ballots, voids = list(ballots), list(voids)
    rng.shuffle(ballots)
    rng.shuffle(voids)
    return ballots + voids
