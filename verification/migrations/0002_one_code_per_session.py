from django.db import migrations, models
from django.db.models import Count, Max


def keep_the_newest_code(apps, schema_editor):
    """Before the constraint: of a session's codes for one number, only the newest was ever
    valid (issue() deleted the earlier ones); any left over by a race go."""
    code = apps.get_model("verification", "VerificationCode")
    pairs = (
        code.objects.values("phone_hash", "session_hash")
        .annotate(n=Count("pk"), newest=Max("pk"))
        .filter(n__gt=1)
    )
    for pair in pairs:
        code.objects.filter(
            phone_hash=pair["phone_hash"], session_hash=pair["session_hash"]
        ).exclude(pk=pair["newest"]).delete()


class Migration(migrations.Migration):
    dependencies = [("verification", "0001_initial")]

    operations = [
        migrations.RunPython(keep_the_newest_code, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="verificationcode", name="verification_code_lookup"),
        migrations.AddConstraint(
            model_name="verificationcode",
            constraint=models.UniqueConstraint(
                fields=("phone_hash", "session_hash"), name="verification_code_one_per_session"
            ),
        ),
    ]
