"""The built wheel, installed in a fresh virtual environment inside a service that has its own
``domain/`` and ``adapters/`` packages (as most services built the same way do): the demo and an
API call work, and the service's own packages stay its own."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("creator_ledger-*.whl")
    return built


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> tuple[Path, Path]:
    """(the service's folder, the python of its fresh venv with the wheel installed)."""
    home = tmp_path_factory.mktemp("service")
    env_dir = home / ".venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    # The wheel's dependencies come from this test's environment, by path (its .pth files,
    # among them the editable install of this checkout, are not read).
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            text=True,
        ).strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    for package, module in (("domain", "model"), ("adapters", "repository")):
        (home / package).mkdir()
        (home / package / "__init__.py").write_text(f'WHOSE = "the service\'s own {package}"\n')
        (home / package / f"{module}.py").write_text("X = 1\n")
    return home, python


def run(python: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "PYTHON"))}
    return subprocess.run(
        [str(python), *args],
        check=False,
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_wheel_installs_one_top_level_package_with_its_types(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"creator_ledger"}
    assert "creator_ledger/py.typed" in names
    assert any(n.startswith("creator_ledger/migrations/") and n.endswith(".sql") for n in names)
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_the_demo_runs_inside_a_service_with_its_own_domain_and_adapters(
    service: tuple[Path, Path],
) -> None:
    home, python = service
    done = run(python, home, "-m", "creator_ledger", "demo", "--creators", "40")
    assert done.returncode == 0, done.stderr
    assert "Reconciliation (internal)" in done.stdout
    assert done.stdout.rstrip().endswith("clean")


def test_an_api_call_works_and_the_services_packages_stay_its_own(
    service: tuple[Path, Path],
) -> None:
    home, python = service
    script = textwrap.dedent(
        """
        import domain, adapters
        from domain.model import X
        from creator_ledger import CreatorLedger, Settings, __version__
        with CreatorLedger.open(Settings(database_url="sqlite:///service.sqlite")) as cl:
            cl.create_fund(fund_key="f", name="F", currency="USD", budget_minor=100,
                           idempotency_key="f", actor="svc:adopter")
            print(cl.fund("f").available_minor, __version__)
        print(domain.WHOSE, "|", adapters.WHOSE, "|", X)
        """
    )
    done = run(python, home, "-c", script)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[0] == "100"
    assert lines[1] == "the service's own domain | the service's own adapters | 1"
