"""The poll's Merkle log, kept as tiles of hashes so that proofs stay cheap at a million leaves.

RFC 9162 hashing and the proofs' shapes come from `tools.verify_record` (the verifier anyone can
run): the site builds exactly what the public checks. This module adds where the hashes live.

Storage: tiles, as the Go checksum database and C2SP tlog-tiles keep a log. A tile (level L,
index n) is one row holding up to 256 consecutive hashes of tree level 8·L, 32 bytes each,
concatenated: tile (0, n) holds the leaf hashes n·256 … n·256 + 255; tile (1, n) the hashes of
the perfect subtrees of 256 leaves; tile (2, n) those of 65,536 leaves. A million leaves fit in
3,924 tiles (32 MB), and any perfect subtree's hash is one tile read plus at most 127
hashings. Only the last tile of each level is ever rewritten; the others are final.

An inclusion or consistency proof at a million leaves reads about six tiles in one call to
the store; appending a batch rewrites the last tiles and adds the new ones in one call.
"""

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from tools.verify_record import (
    HASH_SIZE,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    nodes_for,
    subtree_hash,
    tree_root,
)

TILE_HEIGHT = 8  # tree levels a tile spans
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile

TileKey = tuple[int, int]  # (tile level, tile index)


class TileStore(Protocol):
    """Where one log's tiles live: a dict here, a table in the `record` app.

    Tiles are immutable once full. Only the log's single writer (the checkpoint publisher,
    holding the log's lock) calls write_tiles; readers may run at any time, since a tile they
    read is never shorter than the checkpoint they prove against.
    """

    def read_tiles(self, keys: Collection[TileKey]) -> Mapping[TileKey, bytes]:
        """The stored tiles among keys (a missing one is simply left out)."""

    def write_tiles(self, tiles: Mapping[TileKey, bytes]) -> None:
        """Insert these tiles or replace them whole."""


class MemoryTileStore:
    """A TileStore in a dict: for tests, the benchmark and the package builder's checks."""

    def __init__(self):
        self.tiles = {}

    def read_tiles(self, keys):
        return {key: self.tiles[key] for key in keys if key in self.tiles}

    def write_tiles(self, tiles):
        self.tiles.update(tiles)


def _perfect_root(hashes):
    """Root of a perfect subtree given its bottom row (bytes, a power-of-two count of hashes)."""
    row = [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return bytes(row[0])


def tile_of(level, index):
    """Where the perfect subtree (level, index) is found: (tile key, first slot, slot count).

    The subtree's hash is the root of `count` consecutive hashes of the tile's bottom row.
    """
    tile_level, height = divmod(level, TILE_HEIGHT)
    first = index << height  # its leftmost descendant on the tile's bottom row
    return (tile_level, first >> TILE_HEIGHT), first & (TILE_WIDTH - 1), 1 << height


class MerkleLog:
    """One poll's log over a TileStore. `size` is the log's size as its owner last stored it.

    The owner keeps the size (the `record` app: its log row, updated in the same transaction
    as the tiles). All methods are Django-free; the store decides where tiles live.
    """

    def __init__(self, store: TileStore, size: int = 0):
        self.store = store
        self.size = size

    # Reading --------------------------------------------------------------------------------

    def _check_size(self, size):
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValueError(f"the log has {self.size} entries, not {size}")
        return size

    def nodes(self, keys):
        """Hashes of these perfect subtrees, {(level, index): hash}, from one read of the store."""
        places = {key: tile_of(*key) for key in keys}
        tiles = self.store.read_tiles({tile for tile, _, _ in places.values()})
        found = {}
        for key, (tile, first, count) in places.items():
            data = tiles.get(tile, b"")[first * HASH_SIZE : (first + count) * HASH_SIZE]
            if len(data) != count * HASH_SIZE:
                raise LookupError(f"the store lacks subtree {key} (tile {tile})")
            found[key] = _perfect_root(data)
        return found

    def _hashes(self, ranges):
        found = self.nodes(nodes_for(ranges))
        return [subtree_hash(start, end, lambda *key: found[key]) for start, end in ranges]

    def root(self, size=None):
        """The root of the log at this size (any size it has had), by default its current one."""
        size = self._check_size(size)
        if size == 0:
            return tree_root(0, None)
        return self._hashes([(0, size)])[0]

    def inclusion_proof(self, index, size=None):
        """RFC 9162 inclusion proof of entry `index` (from 0) in the log at `size`."""
        return self._hashes(inclusion_ranges(index, self._check_size(size)))

    def consistency_proof(self, old_size, new_size=None):
        """RFC 9162 consistency proof that the log at old_size is a prefix of it at new_size."""
        return self._hashes(consistency_ranges(old_size, self._check_size(new_size)))

    # Writing --------------------------------------------------------------------------------

    def append(self, entries: Sequence[bytes]) -> int:
        """Append entries (canonical JSON bytes) in this order; returns the new size.

        The caller holds the log's lock for the whole call and stores the new size with the
        tiles, in one transaction: two writers would each extend the same last tile.
        """
        return self.append_leaf_hashes([leaf_hash(entry) for entry in entries])

    def append_leaf_hashes(self, hashes):
        if not hashes:
            return self.size
        # The last, partly filled tile of each level, which this batch extends.
        partial = {}
        level, count = 0, self.size
        while count:
            if count % TILE_WIDTH:
                partial[level] = (level, count // TILE_WIDTH)
            level, count = level + 1, count // TILE_WIDTH
        stored = self.store.read_tiles(partial.values())
        written = {}
        level, count, new = 0, self.size, hashes
        while new:
            index, used = divmod(count, TILE_WIDTH)
            row = bytearray(stored.get((level, index), b"")[: used * HASH_SIZE])
            if len(row) != used * HASH_SIZE:
                raise LookupError(f"the store lacks tile {(level, index)} of a log of {self.size}")
            completed = []  # roots of tiles this batch fills: the next level's new hashes
            for digest in new:
                row += digest
                if len(row) == TILE_WIDTH * HASH_SIZE:
                    written[(level, index)] = bytes(row)
                    completed.append(_perfect_root(row))
                    row, index = bytearray(), index + 1
            if row:
                written[(level, index)] = bytes(row)
            level, count, new = level + 1, count // TILE_WIDTH, completed
        self.store.write_tiles(written)
        self.size += len(hashes)
        return self.size
