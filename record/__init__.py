"""The public record (issue 12): an RFC 9162 Merkle log per poll, signed checkpoints, receipts'
proofs and the closing package.

This package's core is Django-free and has no models; the `record` app adds them on top:

- record.entries   the log's entries as canonical JSON bytes; batch() orders a checkpoint's
- record.merkle    MerkleLog over a TileStore: append, roots, inclusion and consistency proofs
- record.signing   RECORD_SIGNING_KEY, Signer (checkpoints, manifests), the deploy check's test
- record.receipts  a receipt's proof document, and its check
- record.package   build_closing_package()

Hashing, proofs' shapes and their verification live in tools/verify_record.py, the stand-alone
verifier, and are imported from there: one definition of the log. docs/record.md describes
the formats and how the app uses these modules.
"""
