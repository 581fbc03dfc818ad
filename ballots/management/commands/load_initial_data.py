from django.conf import settings
from django.core.management import call_command
from django.db import IntegrityError, transaction

from reforms.models import Reform
from zibo_vote.management.base import BaseCommand

FIXTURE = settings.BASE_DIR / "fixtures" / "reforms.json"


class Command(BaseCommand):
    help = (
        "Load the fifteen entries and the poll from fixtures/reforms.json, once: "
        "a database that already holds entries is left exactly as staff left it."
    )

    def handle(self, *args, **options):
        try:
            with transaction.atomic():
                if Reform.objects.exists():
                    self.stdout.write("Entries already present; nothing loaded.")
                    return
                call_command("loaddata", FIXTURE, verbosity=0)
                # loaddata's raw saves leave no history; record the notice's text as the first
                # version, so staff can always restore an entry to it.
                Reform.history.bulk_history_create(
                    Reform.objects.all(), default_change_reason="载入公示原文"
                )
        except IntegrityError:
            # Two hosts deploying at once: the other one inserted the same rows first and the
            # unique keys turned this copy away, which is the outcome we want.
            self.stdout.write("Another process loaded the entries first; nothing loaded.")
            return
        self.stdout.write(
            self.style.SUCCESS(f"Loaded {Reform.objects.count()} entries and the poll.")
        )
