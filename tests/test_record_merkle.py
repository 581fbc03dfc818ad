"""The public record's Merkle tree: RFC 9162 hashing, proofs, and the tiles the site keeps.

The known-answer vectors are the Certificate Transparency test tree of eight leaves, as
published in transparency-dev/merkle, proof/verify_test.go (Apache 2.0; the same values as
google/certificate-transparency's merkle_tree_test.cc): its leaves, the roots of its first one
to eight leaves, and its inclusion and consistency proofs. Leaf numbers there count from 1.
"""

import hashlib
import random

import pytest

from record.merkle import TILE_WIDTH, MemoryTileStore, MerkleLog, tile_of
from tools.verify_record import (
    EMPTY_ROOT,
    MemoryTree,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (leaf index from 0, tree size, proof)
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]  # fmt: skip
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


def tile_log(entries, batch=None):
    """A MerkleLog over an in-memory tile store, appended in batches of `batch` (all at once)."""
    log = MerkleLog(MemoryTileStore())
    batch = batch or max(len(entries), 1)
    for start in range(0, len(entries), batch):
        log.append(entries[start : start + batch])
    return log


@pytest.fixture(scope="module")
def ct_log():
    return tile_log(LEAVES, batch=3)


def test_leaf_and_node_hashes_are_rfc_9162s():
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert MerkleLog(MemoryTileStore()).root() == EMPTY_ROOT


def test_roots_of_the_ct_test_tree(ct_log):
    assert [ct_log.root(size) for size in range(1, 9)] == ROOTS


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_of_the_ct_test_tree(ct_log, index, size, proof):
    assert [p.hex() for p in ct_log.inclusion_proof(index, size)] == proof
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, [h(p) for p in proof],
                            ROOTS[size - 1])  # fmt: skip


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_of_the_ct_test_tree(ct_log, old, new, proof):
    assert [p.hex() for p in ct_log.consistency_proof(old, new)] == proof
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], [h(p) for p in proof])


def corrupted_inclusion(index, size, proof, root, leaf):
    """Wrong variants of a good proof (after transparency-dev's corruptInclusionProof)."""
    some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    yield index - 1, size, proof, root, leaf
    yield index + 1, size, proof, root, leaf
    yield index ^ 2, size, proof, root, leaf
    yield index, size * 2, proof, root, leaf
    yield index, size // 2, proof, root, leaf
    yield index, size, proof, root, leaf_hash(b"WrongLeaf")
    yield index, size, proof, EMPTY_ROOT, leaf
    yield index, size, proof, some, leaf
    yield index, size, [*proof, root], root, leaf
    yield index, size, [root, *proof], root, leaf
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        yield index, size, flipped, root, leaf
    if proof:
        yield index, size, proof[:-1], root, leaf


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION[:4])
def test_wrong_inclusion_proofs_are_refused(index, size, proof):
    proof = [h(p) for p in proof]
    for case in corrupted_inclusion(index, size, proof, ROOTS[size - 1], leaf_hash(LEAVES[index])):
        wrong_index, wrong_size, wrong_proof, root, leaf = case
        assert not verify_inclusion(leaf, wrong_index, wrong_size, wrong_proof, root), case


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY[1:])
def test_wrong_consistency_proofs_are_refused(old, new, proof):
    proof = [h(p) for p in proof]
    root1, root2 = ROOTS[old - 1], ROOTS[new - 1]
    wrong = [
        (old - 1, new, root1, root2, proof),
        (old + 1, new, root1, root2, proof),
        (old, new * 2, root1, root2, proof),
        (old, new, root2, root1, proof),  # swapped roots
        (old, new, root1, root2, []),
        (old, new, root1, root2, [*proof, root1]),
        (old, new, root1, root2, [root2, *proof]),
        (old, new, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        wrong.append((old, new, root1, root2, flipped))
    for case in wrong:
        assert not verify_consistency(*case), case


def test_trivial_consistency_cases():
    # A tree is consistent with itself and with the empty tree; with nothing to prove, a
    # non-empty proof is refused (the cases of transparency-dev's TestVerifyConsistency).
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    assert verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[2], [EMPTY_ROOT])
    assert not verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [EMPTY_ROOT])
    assert not verify_consistency(0, 5, ROOTS[0], ROOTS[4], [])
    assert not verify_consistency(2, 1, ROOTS[1], ROOTS[0], [])
    assert not verify_consistency(1, 2, ROOTS[0], ROOTS[1], [])
    assert not verify_inclusion(EMPTY_ROOT, 0, 0, [], EMPTY_ROOT)


def entries(count, seed=0):
    return [f'{{"n":{seed * 10**7 + i}}}'.encode() for i in range(count)]


def reference_root(items):
    """RFC 9162 §2.1.1 MTH written out recursively, to check the tiles against."""
    if len(items) == 1:
        return leaf_hash(items[0])
    k = 1 << ((len(items) - 1).bit_length() - 1)
    return node_hash(reference_root(items[:k]), reference_root(items[k:]))


def test_every_proof_of_every_tree_up_to_64_leaves_verifies():
    items = entries(64)
    log, tree = tile_log(items, batch=5), MemoryTree()
    for item in items:
        tree.append(leaf_hash(item))
    for new in range(1, 65):
        root = log.root(new)
        assert root == tree.root(new) == reference_root(items[:new])
        for index in range(new):
            proof = log.inclusion_proof(index, new)
            assert proof == tree.inclusion_proof(index, new)
            assert len(proof) == len(inclusion_ranges(index, new))
            assert verify_inclusion(leaf_hash(items[index]), index, new, proof, root)
        for old in range(0, new + 1):
            proof = log.consistency_proof(old, new)
            assert proof == tree.consistency_proof(old, new)
            assert len(proof) == len(consistency_ranges(old, new))
            old_root = log.root(old)
            assert verify_consistency(old, new, old_root, root, proof), (old, new)
            if 0 < old < new:
                assert not verify_consistency(old, new, root, old_root, proof)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_larger_trees_across_tile_boundaries(seed):
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    size = rng.choice([TILE_WIDTH, TILE_WIDTH + 1, 3 * TILE_WIDTH - 1]) + rng.randrange(2000)
    items = entries(size, seed)
    log = MerkleLog(MemoryTileStore())
    sizes = []
    while log.size < size:  # batches of every shape: a leaf, a tile, many tiles
        log.append(items[log.size : log.size + rng.choice([1, 7, TILE_WIDTH, 700])])
        sizes.append(log.size)
    assert log.root() == reference_root(items)
    for _ in range(40):
        new = rng.choice(sizes)
        index = rng.randrange(new)
        root = log.root(new)
        assert verify_inclusion(leaf_hash(items[index]), index, new,
                                log.inclusion_proof(index, new), root)  # fmt: skip
        old = rng.randrange(new + 1)
        assert verify_consistency(old, new, log.root(old), root, log.consistency_proof(old, new))


def test_tiles_hold_256_hashes_and_the_next_level_their_roots():
    items = entries(TILE_WIDTH * 2 + 3)
    store = MemoryTileStore()
    log = MerkleLog(store)
    log.append(items[:100])
    log.append(items[100:])
    assert sorted(store.tiles) == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert len(store.tiles[(0, 2)]) == 3 * 32
    assert store.tiles[(1, 0)] == reference_root(items[:256]) + reference_root(items[256:512])
    assert tile_of(8, 1) == ((1, 0), 1, 1)
    assert tile_of(3, 33) == ((0, 1), 8, 8)


def test_a_log_reopened_at_its_stored_size_goes_on_where_it_stopped():
    items = entries(1000)
    store = MemoryTileStore()
    MerkleLog(store).append(items[:600])
    reopened = MerkleLog(store, size=600)
    reopened.append(items[600:])
    assert reopened.root() == reference_root(items)


def test_a_crash_after_writing_tiles_but_not_the_size_is_overwritten_cleanly():
    # The tiles of a batch whose transaction did not store the new size are simply rewritten.
    items = entries(700)
    store = MemoryTileStore()
    MerkleLog(store).append(items[:500])
    MerkleLog(store, size=300).append(items[300:700])
    assert MerkleLog(store, size=700).root() == reference_root(items)


def test_proofs_beyond_the_log_are_refused():
    log = tile_log(entries(10))
    with pytest.raises(ValueError):
        log.inclusion_proof(10, 10)
    with pytest.raises(ValueError):
        log.consistency_proof(3, 11)
    with pytest.raises(ValueError):
        log.root(11)


# A second, independent formulation of the verifiers: the one Trillian, transparency-dev and
# sigstore-python use (split the proof where the paths to the leaf and to the last leaf part,
# chain the inner part by the index's bits, then the border). Written here from their
# description, so the two formulations check each other on every tree up to 64 leaves.


def _chain_inner(seed, proof, index):
    for i, p in enumerate(proof):
        seed = node_hash(seed, p) if (index >> i) & 1 == 0 else node_hash(p, seed)
    return seed


def _chain_inner_right(seed, proof, index):
    for i, p in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(p, seed)
    return seed


def _chain_border_right(seed, proof):
    for p in proof:
        seed = node_hash(p, seed)
    return seed


def _decomposition(index, size):
    inner = (index ^ (size - 1)).bit_length()
    return inner, bin(index >> inner).count("1")


def decomposition_root_from_inclusion(index, size, leaf, proof):
    inner, border = _decomposition(index, size)
    assert len(proof) == inner + border
    return _chain_border_right(_chain_inner(leaf, proof[:inner], index), proof[inner:])


def decomposition_root_from_consistency(old, new, old_root, proof):
    inner, border = _decomposition(old - 1, new)
    shift = (old & -old).bit_length() - 1
    inner -= shift
    seed, start = (old_root, 0) if old == 1 << shift else (proof[0], 1)
    assert len(proof) == start + inner + border
    proof = proof[start:]
    mask = (old - 1) >> shift
    first = _chain_border_right(_chain_inner_right(seed, proof[:inner], mask), proof[inner:])
    assert first == old_root
    return _chain_border_right(_chain_inner(seed, proof[:inner], mask), proof[inner:])


def test_proofs_agree_with_the_decomposition_verifier_of_trillian_and_sigstore():
    items = entries(64, seed=5)
    log = tile_log(items, batch=9)
    for new in range(1, 65):
        root = log.root(new)
        for index in range(new):
            proof = log.inclusion_proof(index, new)
            assert decomposition_root_from_inclusion(index, new, leaf_hash(items[index]),
                                                     proof) == root  # fmt: skip
        for old in range(1, new):
            proof = log.consistency_proof(old, new)
            assert decomposition_root_from_consistency(old, new, log.root(old), proof) == root
