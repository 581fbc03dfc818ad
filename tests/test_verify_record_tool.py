"""tools/verify_record.py as a journalist runs it: a fresh Python with only `cryptography`.

The tool runs in a virtual environment made for the test that holds nothing but `cryptography`
and what `pip install cryptography` brings with it (cffi, pycparser), in isolated mode, from a
folder outside the repository: so it cannot lean on Django or on the site's code.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import cffi
import cryptography
import pycparser
import pytest

from .record_helpers import OPENED, SLUG, make_record, new_signer, read_member, rewrite_zip

TOOL = Path(__file__).resolve().parent.parent / "tools" / "verify_record.py"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A Python whose only package is cryptography (and its dependencies)."""
    home = tmp_path_factory.mktemp("bare-venv")
    venv.create(home, with_pip=False, symlinks=True)
    python = home / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; "
                "print(sysconfig.get_paths()['purelib'])"], text=True).strip())  # fmt: skip
    ours = Path(sysconfig.get_paths()["platlib"])
    for module in (cryptography, cffi, pycparser):
        os.symlink(Path(module.__file__).parent, site / Path(module.__file__).parent.name)
    for backend in ours.glob("_cffi_backend*"):
        os.symlink(backend, site / backend.name)
    no_django = subprocess.run([python, "-I", "-c", "import django"], capture_output=True)
    assert no_django.returncode != 0, "the bare Python must not see the site's packages"
    return python


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A package, a checkpoint saved during voting, and one signed by someone else."""
    folder = tmp_path_factory.mktemp("record")
    record = make_record()
    package = folder / "reform-experiences-record.zip"
    record.package(package)
    (folder / "saved.json").write_text(json.dumps(record.checkpoints[1]), encoding="utf-8")
    forged = new_signer().checkpoint(poll=SLUG, size=7, root=record.log.root(7), time=OPENED)
    (folder / "forged.json").write_text(json.dumps(forged), encoding="utf-8")
    tool = folder / "verify_record.py"
    shutil.copy(TOOL, tool)
    return record, folder, package, tool


def run(python, tool, *args, cwd):
    return subprocess.run([python, "-I", tool, *map(str, args)], capture_output=True,
                          text=True, encoding="utf-8", cwd=cwd)  # fmt: skip


def test_the_tool_needs_only_the_standard_library_and_cryptography():
    tree = ast.parse(TOOL.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_a_good_package_verifies_with_exit_status_0(bare_python, files):
    record, folder, package, tool = files
    result = run(bare_python, tool, package, cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "[通过] 清单签名有效" in out and "OK: The manifest's signature verifies" in out
    assert "[通过] 7 个检查点签名有效" in out and "OK: 7 checkpoints" in out
    assert "[通过] tally.csv 与重新计票逐字节相同" in out
    assert out.rstrip().endswith("核验通过。\n    VERIFIED: every check passed.")
    assert record.signer.fingerprint in out


def test_the_copy_inside_the_package_is_the_tool_and_runs(bare_python, files, tmp_path):
    _, _, package, _ = files
    shipped = tmp_path / "verify_record.py"
    shipped.write_bytes(read_member(package.read_bytes(), "verify_record.py"))
    assert shipped.read_bytes() == TOOL.read_bytes()
    assert run(bare_python, shipped, package, cwd=tmp_path).returncode == 0


def test_a_tampered_package_fails_with_status_1_naming_the_first_problem(bare_python, files):
    _, folder, package, tool = files
    data = package.read_bytes()
    tally = read_member(data, "tally.csv").replace(b"\xe7\xac\xac", b"X", 1)
    bad = folder / "tampered.zip"
    bad.write_bytes(rewrite_zip(data, {"tally.csv": tally}))
    result = run(bare_python, tool, bad, cwd=folder)
    assert result.returncode == 1
    assert "[未通过] tally.csv 的 SHA-256 与清单不符" in result.stdout
    assert "FAILED: The SHA-256 of tally.csv does not match the manifest" in result.stdout
    assert "核验未通过" in result.stdout and "VERIFICATION FAILED" in result.stdout
    assert "[通过] 清单签名有效" not in result.stdout


def test_receipts_by_exit_status(bare_python, files):
    record, folder, package, tool = files
    counted = next(r for r in record.choices if r not in record.voided)
    found = run(bare_python, tool, package, "--receipt", counted.lower(), cwd=folder)
    assert found.returncode == 0 and "已计入" in found.stdout and "counted" in found.stdout
    unknown = run(bare_python, tool, package, "--receipt", "2345-6789-ABCD", cwd=folder)
    assert unknown.returncode == 3
    assert "不在公开记录中" in unknown.stdout and "is not in the record" in unknown.stdout
    assert "记录本身核验通过" in unknown.stdout


def test_saved_checkpoints_by_exit_status(bare_python, files):
    _, folder, package, tool = files
    kept = run(bare_python, tool, package, "--checkpoint", folder / "saved.json", cwd=folder)
    assert kept.returncode == 0 and "且是最终记录的前缀" in kept.stdout
    forged = run(bare_python, tool, package, "--checkpoint", folder / "forged.json", cwd=folder)
    assert forged.returncode == 1
    assert "不是用本包的密钥签署的" in forged.stdout and "not signed by this package's key" in (
        forged.stdout
    )


def test_a_fingerprint_given_on_the_command_line_is_checked(bare_python, files):
    record, folder, package, tool = files
    right = run(bare_python, tool, package, "--fingerprint", record.signer.fingerprint, cwd=folder)
    assert right.returncode == 0
    wrong = run(bare_python, tool, package, "--fingerprint", new_signer().fingerprint, cwd=folder)
    assert wrong.returncode == 1 and "not the key the office published" in wrong.stdout


def test_files_that_cannot_be_read_give_status_2(bare_python, files):
    _, folder, package, tool = files
    assert run(bare_python, tool, folder / "missing.zip", cwd=folder).returncode == 2
    (folder / "broken.json").write_text("{", encoding="utf-8")
    broken = run(bare_python, tool, package, "--checkpoint", folder / "broken.json", cwd=folder)
    assert broken.returncode == 2 and "无法读取" in broken.stdout
    assert run(bare_python, tool, cwd=folder).returncode == 2  # no package named
