"""Issue 14: the personal data of a certified poll's ballots is purged after the retention
period (Poll.purge_personal_data): citizen_hash may be NULL then (the unique constraint
ballots_one_per_citizen skips NULLs), and the poll records when it was purged."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ballots", "0009_certification_and_voidings"),
    ]

    operations = [
        migrations.AddField(
            model_name="poll",
            name="personal_data_purged_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="个人信息清除时间"
            ),
        ),
        migrations.AlterField(
            model_name="ballot",
            name="citizen_hash",
            field=models.CharField(blank=True, max_length=64, null=True, verbose_name="手机号摘要"),
        ),
    ]
