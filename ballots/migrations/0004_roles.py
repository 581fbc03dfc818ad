"""The two staff roles, on every deploy (a data migration, not a manual step).

改革办审核员 (reform office moderator): edit and publish entries (with their history), schedule
and close the poll, void ballots, export. 统计导出 (statistics): see the poll and its tally, and
export. Superusers come from `manage.py createsuperuser`; staff accounts are put in a group.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "改革办审核员": [
        ("reforms", "view_reform"),
        ("reforms", "change_reform"),
        ("reforms", "view_historicalreform"),
        ("ballots", "view_poll"),
        ("ballots", "change_poll"),
        ("ballots", "close_poll"),
        ("ballots", "export_tally"),
        ("ballots", "view_ballot"),
        ("ballots", "void_ballot"),
    ],
    "统计导出": [
        ("ballots", "view_poll"),
        ("ballots", "export_tally"),
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; on a fresh database they do not
    # exist yet at this point, so create them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codenames:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("reforms", "0002_history"),
        ("ballots", "0003_permissions_and_masked_phone"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
