"""Who imports whom: the project package is wiring, the apps point one way (docs/layout.md)."""

import ast
import inspect
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)

# The packages of ours each production package may import. Never the other way; never bench/.
ALLOWED = {
    "zibo_vote": set(),
    "reforms": {"zibo_vote"},
    "verification": {"zibo_vote"},
    "ballots": {"zibo_vote", "reforms", "verification"},
    "record": {"zibo_vote", "reforms", "ballots"},
}
OURS = {*ALLOWED, "bench", "tests"}


def imports(package):
    """(module file, imported module name) for every import in a package, relative ones resolved."""
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # from . import x, from .models import y
                    base = module.split(".")[: -node.level]  # a/b/__init__ counts as a.b.__init__
                    name = ".".join([*base, node.module] if node.module else base)
                else:
                    name = node.module
                yield path, name
                for alias in node.names:  # from ballots import views
                    yield path, f"{name}.{alias.name}"


PACKAGES = [package for package in ALLOWED if (ROOT / package).is_dir()]


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_one_way_and_never_the_benchmark(package):
    wrong = sorted(
        {
            f"{path.relative_to(ROOT)} imports {name}"
            for path, name in imports(package)
            if name.split(".")[0] in OURS and name.split(".")[0] not in {package, *ALLOWED[package]}
        }
    )
    assert wrong == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_imports_another_packages_views(package):
    wrong = sorted(
        {
            f"{path.relative_to(ROOT)} imports {name}"
            for path, name in imports(package)
            if name.split(".")[0] in OURS - {package} and ".views" in f".{name}."
        }
    )
    assert wrong == []


def test_the_project_package_holds_no_models_and_starts_only_its_check_and_csrf_draws():
    from django.core.checks import registry

    from zibo_vote import checks
    from zibo_vote.apps import ZiboVoteConfig

    project = apps.get_app_config("zibo_vote")
    assert list(project.get_models()) == []
    assert type(project) is ZiboVoteConfig  # its ready() runs: the default config is chosen
    assert checks.check_tag_library_names in registry.registry.get_checks()
    source = inspect.getsource(ZiboVoteConfig.ready)
    code = [line.strip() for line in source.strip().splitlines()[1:]]
    assert [line for line in code if line and not line.startswith("#")] == [
        "from django.middleware import csrf",
        "from . import checks  # noqa: F401 - registers the template library check",
        "from .tokens import csrf_string",
        "csrf._get_new_csrf_string = csrf_string",
    ]


def test_production_settings_name_no_benchmark():
    source = (ROOT / "zibo_vote" / "settings.py").read_text(encoding="utf-8")
    assert "bench" not in source.lower()
    assert "bench" not in (ROOT / "zibo_vote" / "urls.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("package", ["reforms", "ballots", "record"])
def test_each_app_connects_its_cache_invalidation_in_its_ready_only(package):
    # One route: signals, connected to the page cache's receiver in the app's own ready().
    users = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if "invalidate" in path.read_text(encoding="utf-8")
    )
    assert users == [f"{package}/apps.py"]
