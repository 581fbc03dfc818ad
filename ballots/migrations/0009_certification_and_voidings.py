"""Issue 12: the result is certified once (certified_at, certified_by, the 公示期's end), and
voidings are batches (Voiding) that ballots point to.

Ballots voided before this migration get one Voiding per (poll, time, staff member, reason,
note): what one action of the admin wrote. 改革办审核员 may certify.
"""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models
from django.db.models import Count


def voidings_for_earlier_voided_ballots(apps, schema_editor):
    Ballot = apps.get_model("ballots", "Ballot")
    Voiding = apps.get_model("ballots", "Voiding")
    batches = (
        Ballot.objects.filter(voided_at__isnull=False, voiding__isnull=True)
        .order_by("voided_at")
        .values("poll_id", "voided_at", "voided_by_id", "void_reason", "void_note")
        .annotate(count=Count("pk"))
    )
    for batch in batches:
        voiding = Voiding.objects.create(
            poll_id=batch["poll_id"],
            at=batch["voided_at"],
            by_id=batch["voided_by_id"],
            reason=batch["void_reason"],
            note=batch["void_note"],
            count=batch["count"],
        )
        Ballot.objects.filter(
            poll_id=batch["poll_id"],
            voided_at=batch["voided_at"],
            voided_by_id=batch["voided_by_id"],
            void_reason=batch["void_reason"],
            void_note=batch["void_note"],
        ).update(voiding=voiding)


def moderators_may_certify(apps, schema_editor):
    app_config = apps.get_app_config("ballots")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    certify = Permission.objects.get(content_type__app_label="ballots", codename="certify_poll")
    for group in Group.objects.filter(name="改革办审核员"):
        group.permissions.add(certify)


class Migration(migrations.Migration):
    dependencies = [
        ("ballots", "0008_sharded_running_counts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Voiding",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="作废时间"
                    ),
                ),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("stuffing", "疑似刷票"),
                            ("duplicate_identity", "身份重复"),
                            ("test_data", "测试数据"),
                            ("other", "其他"),
                        ],
                        max_length=32,
                        verbose_name="作废原因",
                    ),
                ),
                ("note", models.TextField(blank=True, verbose_name="作废说明")),
                ("count", models.PositiveIntegerField(verbose_name="作废张数")),
            ],
            options={
                "verbose_name": "作废记录",
                "verbose_name_plural": "作废记录",
                "ordering": ["at", "pk"],
            },
        ),
        migrations.AlterModelOptions(
            name="poll",
            options={
                "ordering": ["-opens_at"],
                "permissions": [
                    ("close_poll", "可以结束投票"),
                    ("export_tally", "可以导出计票结果"),
                    ("certify_poll", "可以确认最终结果"),
                ],
                "verbose_name": "投票活动",
                "verbose_name_plural": "投票活动",
            },
        ),
        migrations.AddField(
            model_name="poll",
            name="certified_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="结果确认时间"
            ),
        ),
        migrations.AddField(
            model_name="poll",
            name="certified_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="结果确认人",
            ),
        ),
        migrations.AddField(
            model_name="poll",
            name="publicity_ends_at",
            field=models.DateTimeField(
                blank=True,
                help_text="北京时间。投票结束后，结果在公示期内为初步结果，公示期满后由工作人员确认最终结果。",
                null=True,
                verbose_name="公示期截止时间",
            ),
        ),
        migrations.AddConstraint(
            model_name="poll",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("certified_by__isnull", True), ("certified_at__isnull", False), _connector="OR"
                ),
                name="ballots_poll_certified_by_only_when_certified",
            ),
        ),
        migrations.AddField(
            model_name="voiding",
            name="by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="作废操作人",
            ),
        ),
        migrations.AddField(
            model_name="voiding",
            name="poll",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="voidings",
                to="ballots.poll",
                verbose_name="投票活动",
            ),
        ),
        migrations.AddField(
            model_name="ballot",
            name="voiding",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="ballots",
                to="ballots.voiding",
                verbose_name="作废批次",
            ),
        ),
        migrations.RunPython(voidings_for_earlier_voided_ballots, migrations.RunPython.noop),
        migrations.RunPython(moderators_may_certify, migrations.RunPython.noop),
    ]
