"""The public record's tables: one log per poll, its entries, its tree (tiles), its checkpoints,
and the closing package. docs/record.md ("The tables the app creates") describes them.

Written only by record.publish (entries, tiles, checkpoints: appended, never edited) and
record.closing (the package). Nothing here holds an identity or a time finer than a checkpoint.
"""

import json

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ballots.models import Poll
from tools.verify_record import format_time


class Log(models.Model):
    """One poll's log: how far it has been written, in entries and in the poll's own rows."""

    poll = models.OneToOneField(
        Poll, verbose_name=_("投票活动"), on_delete=models.PROTECT, related_name="record_log"
    )
    size = models.BigIntegerField(_("记录条数"), default=0)
    # What the entries so far cover: the poll's ballots and voidings up to these ids (the
    # site's own bookkeeping, never published), and whether the close and the certification
    # are in.
    ballots_through = models.BigIntegerField(default=0)
    voidings_through = models.BigIntegerField(default=0)
    has_close = models.BooleanField(default=False)
    has_certification = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("公开记录")
        verbose_name_plural = _("公开记录")

    def __str__(self):
        return str(self.poll)

    def get_absolute_url(self):
        return reverse("record:poll", args=[self.poll.slug])


class Tile(models.Model):
    """Up to 256 consecutive hashes of one level of the tree (record.merkle)."""

    log = models.ForeignKey(Log, on_delete=models.CASCADE, related_name="tiles")
    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    hashes = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["log", "level", "index"], name="record_tile_key"),
        ]

    def __str__(self):
        return f"tile {self.level}/{self.index}"


class EntryType(models.TextChoices):
    BALLOT = "ballot", _("选票")
    VOID = "void", _("作废")
    CLOSE = "close", _("投票结束")
    CERTIFICATION = "certification", _("结果确认")


class Entry(models.Model):
    """One entry of a log: its canonical bytes exactly as hashed, and where it stands."""

    log = models.ForeignKey(Log, on_delete=models.PROTECT, related_name="entries")
    index = models.BigIntegerField()  # its place in the log, from 0
    data = models.BinaryField()
    type = models.CharField(max_length=16, choices=EntryType.choices)
    # SHA-256 of the receipt, for ballot and void entries: how /receipt/ finds them.
    receipt_hash = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["log", "index"]
        constraints = [
            models.UniqueConstraint(fields=["log", "index"], name="record_entry_place"),
        ]

    def __str__(self):
        return f"{self.log_id}:{self.index}"

    @property
    def line(self):
        return bytes(self.data)

    @property
    def content(self):
        return json.loads(self.line)


class Checkpoint(models.Model):
    """A signed checkpoint as published: {poll, size, root, time, signature}.

    consistency: the RFC 9162 proof that it extends the checkpoint before (hex hashes), kept so
    that /record/ shows it without reading the tree.
    """

    log = models.ForeignKey(Log, on_delete=models.PROTECT, related_name="checkpoints")
    number = models.PositiveIntegerField(_("序号"))
    size = models.BigIntegerField(_("记录条数"))
    root = models.CharField(_("根哈希"), max_length=64)
    time = models.DateTimeField(_("时间"))
    signature = models.CharField(_("签名"), max_length=88)
    consistency = models.JSONField(_("一致性证明"), default=list)

    class Meta:
        ordering = ["log", "number"]
        verbose_name = _("检查点")
        verbose_name_plural = _("检查点")
        constraints = [
            models.UniqueConstraint(fields=["log", "number"], name="record_checkpoint_number"),
        ]

    def __str__(self):
        return _("第%(number)d个检查点") % {"number": self.number}

    def signed(self, slug=None):
        """The published object (without the consistency proof)."""
        return {
            "poll": slug or self.log.poll.slug,
            "size": self.size,
            "root": self.root,
            "time": format_time(self.time),
            "signature": self.signature,
        }

    def published(self, slug=None):
        """The object with its consistency proof, as checkpoints.jsonl has it."""
        return {**self.signed(slug), "consistency": list(self.consistency)}


class ClosingPackage(models.Model):
    """The closing package built at the certification, in chunks (a zip of tens of MB is read
    and sent a chunk at a time, never whole in memory)."""

    log = models.OneToOneField(Log, on_delete=models.PROTECT, related_name="package")
    created_at = models.DateTimeField(_("生成时间"))
    size = models.BigIntegerField(_("大小（字节）"))
    sha256 = models.CharField("SHA-256", max_length=64)

    class Meta:
        verbose_name = _("公开记录包")
        verbose_name_plural = _("公开记录包")

    def __str__(self):
        return self.filename

    @property
    def filename(self):
        return f"{self.log.poll.slug}-record.zip"

    def chunks(self):
        for (data,) in self.parts.order_by("index").values_list("data").iterator(chunk_size=1):
            yield bytes(data)


class PackageChunk(models.Model):
    package = models.ForeignKey(ClosingPackage, on_delete=models.CASCADE, related_name="parts")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["package", "index"], name="record_package_chunk"),
        ]

    def __str__(self):
        return f"{self.package_id}:{self.index}"
