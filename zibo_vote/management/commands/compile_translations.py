from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import CommandError

from zibo_vote.management.base import BaseCommand


# Kept because compilemessages needs GNU gettext's msgfmt, which a fresh machine lacks: on
# Debian it is in the `gettext` package (priority optional, not in a default install); macOS
# has none.
class Command(BaseCommand):
    help = (
        "Compile locale/*/LC_MESSAGES/*.po into .mo files, in pure Python (polib), so the build "
        "needs no GNU gettext. Django's compilemessages does the same where msgfmt exists."
    )

    def handle(self, *args, **options):
        catalogs = sorted(
            path for folder in settings.LOCALE_PATHS for path in Path(folder).glob("*/*/*.po")
        )
        if not catalogs:
            raise CommandError(f"No .po files under {settings.LOCALE_PATHS}.")
        for po_path in catalogs:
            catalog = polib.pofile(str(po_path))
            missing = [entry.msgid for entry in catalog if not entry.translated()]
            if missing:
                raise CommandError(
                    f"{po_path}: {len(missing)} untranslated, e.g. {missing[0]!r}. Every interface "
                    "string must have its translation."
                )
            catalog.save_as_mofile(str(po_path.with_suffix(".mo")))
            if options["verbosity"] >= 1:
                self.stdout.write(f"Compiled {po_path} ({len(catalog)} messages).")
