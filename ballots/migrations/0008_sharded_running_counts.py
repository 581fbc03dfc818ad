"""The running counts become shards summed on read, and leave the poll row.

Every ballot used to add to the poll's own row (ballot_count) and to one row per entry, under
the poll's row lock FOR UPDATE: ballots were cast one at a time. Now each adds to one of
BALLOT_COUNT_SHARDS rows (BallotCount, and VoteCount per entry), and no ballot writes the poll.

The counts already there move into shard 0 exactly as they are (not recounted: if they ever
disagreed with the ballots, `check_tally` still says so). Backwards, the shards are added up
into one row again.

Servers running the previous release cannot cast a ballot once this has run (they write the
columns it removes; their transaction fails whole, so no count is ever wrong): migrate and
reload every app host together (docs/operations.md, upgrades).
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Sum


def check_now(schema_editor):
    # PostgreSQL refuses to alter a table with foreign-key checks still pending in the same
    # transaction: run them now, before the schema changes that follow.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


def move_counts_into_shards(apps, schema_editor):
    Poll = apps.get_model("ballots", "Poll")
    BallotCount = apps.get_model("ballots", "BallotCount")
    # VoteCount rows keep their votes: the new `shard` column gives each of them shard 0.
    BallotCount.objects.bulk_create(
        BallotCount(poll_id=poll_id, shard=0, ballots=cast, voided=voided)
        for poll_id, cast, voided in Poll.objects.values_list("pk", "ballot_count", "voided_count")
        if cast or voided
    )
    check_now(schema_editor)


def add_up_shards(apps, schema_editor):
    Poll = apps.get_model("ballots", "Poll")
    BallotCount = apps.get_model("ballots", "BallotCount")
    VoteCount = apps.get_model("ballots", "VoteCount")
    totals = BallotCount.objects.values("poll").annotate(cast=Sum("ballots"), voided=Sum("voided"))
    for row in totals:
        Poll.objects.filter(pk=row["poll"]).update(
            ballot_count=row["cast"], voided_count=row["voided"]
        )
    votes = list(VoteCount.objects.values("poll", "reform").annotate(votes=Sum("votes")))
    VoteCount.objects.all().delete()
    VoteCount.objects.bulk_create(
        VoteCount(poll_id=row["poll"], reform_id=row["reform"], shard=0, votes=row["votes"])
        for row in votes
    )
    check_now(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("ballots", "0007_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="votecount",
            name="shard",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RemoveConstraint(
            model_name="votecount",
            name="ballots_one_count_per_entry",
        ),
        migrations.AddConstraint(
            model_name="votecount",
            constraint=models.UniqueConstraint(
                fields=("poll", "reform", "shard"), name="ballots_one_count_per_entry_and_shard"
            ),
        ),
        migrations.CreateModel(
            name="BallotCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("shard", models.PositiveSmallIntegerField(default=0)),
                ("ballots", models.IntegerField(default=0)),
                ("voided", models.IntegerField(default=0)),
                (
                    "poll",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ballot_count_shards",
                        to="ballots.poll",
                    ),
                ),
            ],
            options={
                "verbose_name": "选票计数",
                "verbose_name_plural": "选票计数",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("poll", "shard"), name="ballots_one_ballot_count_per_shard"
                    )
                ],
            },
        ),
        migrations.RunPython(move_counts_into_shards, add_up_shards),
        migrations.RemoveField(
            model_name="poll",
            name="ballot_count",
        ),
        migrations.RemoveField(
            model_name="poll",
            name="voided_count",
        ),
    ]
