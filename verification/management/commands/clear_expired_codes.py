from datetime import timedelta

from django.utils import timezone

from verification.models import VerificationCode
from zibo_vote.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Delete SMS codes that expired more than a day ago. They verify nothing any more and "
        "hold phone hashes; run daily (a systemd timer or cron)."
    )

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(days=1)
        deleted, _ = VerificationCode.objects.filter(expires_at__lt=cutoff).delete()
        self.stdout.write(f"Deleted {deleted} expired codes.")
