"""A receipt's proof: what /receipt/ checks on the page and offers as a JSON download.

    {
      "format": "zibo-vote-receipt-proof/1",
      "receipt_hash": "…",
      "entries": [{"index": 41, "entry": {…the ballot entry…}, "inclusion_proof": ["…", …]},
                  …the void entry, if the ballot was voided…],
      "checkpoint": {"poll": …, "size": …, "root": …, "time": …, "signature": …},
      "public_key_fingerprint": "3F2A 9C01 …"
    }

A citizen who saved it during voting can later run
`python verify_record.py PACKAGE.zip --checkpoint proof.json`: the checkpoint in it must be part
of the final log, and the proof must still hold.
"""

import json

from tools.verify_record import (
    RECEIPT_PROOF_FORMAT,
    Failure,
    check_receipt_proof,
    load_public_key,
    receipt_hash,
)


def receipt_proof_document(*, receipt, entries, log, checkpoint, fingerprint):
    """entries: [(index from 0, canonical entry bytes)] of this receipt's ballot (and voiding);
    log: the poll's record.merkle.MerkleLog; checkpoint: the signed checkpoint to prove against
    (the latest); fingerprint: the signing key's, as /record/ shows it."""
    return {
        "format": RECEIPT_PROOF_FORMAT,
        "receipt_hash": receipt_hash(receipt),
        "entries": [
            {
                "index": index,
                "entry": json.loads(data),
                "inclusion_proof": [
                    h.hex() for h in log.inclusion_proof(index, checkpoint["size"])
                ],
            }
            for index, data in entries
        ],
        "checkpoint": dict(checkpoint),
        "public_key_fingerprint": fingerprint,
    }


def receipt_proof_holds(document, public_key_pem):
    """True when every entry's inclusion proof holds against the signed checkpoint."""
    try:
        check_receipt_proof(document, load_public_key(public_key_pem))
    except Failure:
        return False
    return True
