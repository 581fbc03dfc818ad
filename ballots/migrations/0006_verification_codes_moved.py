# Codes live five minutes: they move to the verification app by dropping this table
# (verification/migrations/0001_initial.py creates the new one). A code pending at the
# moment of the deploy is lost; its citizen asks for another.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ballots", "0005_vote_counts"),
    ]

    operations = [
        migrations.DeleteModel(name="VerificationCode"),
    ]
