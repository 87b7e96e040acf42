"""The package as users meet it: public names, the README example, the command line."""

from __future__ import annotations

import email
import fnmatch
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from pathlib import PurePosixPath

import pytest

import syncwire
import syncwire.protocol
from syncwire.cli import NEEDS_RICH
from syncwire.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", [syncwire, syncwire.protocol])
def test_all_is_exact_and_sorted(module: object) -> None:
    exported = module.__all__  # type: ignore[attr-defined]
    assert len(set(exported)) == len(exported)
    if module is syncwire:  # written by hand; syncwire.protocol's joins its modules' lists
        # isort-style, as ruff keeps it: CONSTANTS, then Classes, then functions.
        key = lambda n: (not n.isupper(), not n[0].isupper(), n)  # noqa: E731
        assert exported == sorted(exported, key=key)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, type(sys))
    }
    assert set(exported) - {"__version__"} == public - {"annotations"}


def test_version_lives_in_one_place() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'path = "src/syncwire/_version.py"' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", syncwire.__version__)


def test_command_without_arguments_shows_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no line wrapped, however narrow the terminal
    assert main([]) == 2
    out = capsys.readouterr().out
    # syncwire's own words (not argparse's): its description and each command's help.
    for text in [
        "A Convex sync client for asyncio, and its tools.",
        "run the fault-injection demo against a local server",
        "run the local dev server (faults can be injected from stdin)",
        "subscribe to a query and print each new value until Ctrl-C",
        "run one query, mutation or action and print its result as JSON",
    ]:
        assert text in out, out


def test_python_dash_m_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "syncwire", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == f"syncwire {syncwire.__version__}"


# --- the library without the command line's dependencies ------------------------------

# Run first in a subprocess: `rich` (the `cli` extra) and `picows` (the `fast` extra)
# cannot be imported there, as in an environment where only `pip install syncwire`
# ran. Never in this process.
WITHOUT_RICH = """
import sys


class NoExtras:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("rich", "picows"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoExtras())
"""

LIBRARY_AT_WORK = """
import asyncio

import syncwire.testing
from syncwire import Client
from syncwire.devserver import DevServer
from syncwire.devserver.example import chat_app


async def main() -> None:
    async with DevServer(chat_app()) as server, Client(server.url) as client:
        await client.mutation("messages:send", {"body": "hi"})
        print(await client.query("messages:count"))


asyncio.run(main())
print(sorted(name for name in sys.modules if name.partition(".")[0] in ("rich", "picows")))
print(type(syncwire.transport.default_transport(max_message_size=1, headers={})).__name__)
"""


def without_rich(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", WITHOUT_RICH + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_library_imports_and_works_without_its_extras() -> None:
    pytest.importorskip("rich")  # installed here: the subprocess is what lacks it
    for extra in ("rich", "picows"):
        blocked = without_rich(f"import {extra}")
        assert f"ModuleNotFoundError: No module named '{extra}'" in blocked.stderr
    done = without_rich(LIBRARY_AT_WORK)
    assert done.returncode == 0, done.stderr
    # One message, neither extra imported, and the default transport is websockets'.
    assert done.stdout.splitlines() == ["1.0", "[]", "WebSocketsTransport"]


def test_the_fast_transport_is_the_default_when_installed() -> None:
    pytest.importorskip("picows")
    from syncwire.transport import default_transport
    from syncwire.transport.picows import PicowsTransport

    chosen = default_transport(max_message_size=1024, headers={"Convex-Client": "x"})
    assert isinstance(chosen, PicowsTransport)
    assert "max_message_size=1024" in repr(chosen)


@pytest.mark.parametrize("args", [[], ["--version"], ["demo", "--quick"]])
def test_the_command_without_rich_says_how_to_get_it(args: list[str]) -> None:
    code = f"import runpy; sys.argv = ['syncwire', *{args!r}]; runpy.run_module('syncwire')"
    done = without_rich(code)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == NEEDS_RICH + "\n"
    assert "pip install 'syncwire[cli]'" in NEEDS_RICH


# --- the sdist ---------------------------------------------------------------------------


def makefile_paths() -> set[str]:
    """The repository's files and folders the Makefile names (in a recipe or a comment),
    less what it makes itself: what `make clean` removes."""
    text = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+)\s*[?:]?=\s*(\S+)\s*$", text, re.M))
    while (expanded := re.sub(r"\$\((\w+)\)", lambda m: variables.get(m[1], ""), text)) != text:
        text = expanded
    made = text.partition("\nclean:\n")[2].replace("\\\n", " ").split()[2:]  # rm -rf …
    words = {word.rstrip(".") for word in re.findall(r"[\w.][\w./-]*", text)}
    return {
        word
        for word in words
        if word
        and (ROOT / word).exists()
        and not any(fnmatch.fnmatch(word.split("/")[0], pattern) for pattern in made)
    }


@pytest.fixture(scope="session")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> tarfile.TarFile:
    """The sdist `make dist` builds, built once a session with the Makefile's uv."""
    uv = ROOT / ".tools" / "bin" / "uv"
    if not uv.is_file():
        problem = f"{uv.relative_to(ROOT)} is missing; any make target installs it"
        if os.environ.get("CI"):
            pytest.fail(f"{problem}: CI must check the sdist", pytrace=False)
        pytest.skip(problem)
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run(  # noqa: S603 - the Makefile's own uv
        [uv, "build", "--sdist", "--quiet", "--python", sys.executable, "--out-dir", out],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        check=True,
    )
    [archive] = out.glob("*.tar.gz")
    return tarfile.open(archive)


def test_the_sdist_holds_every_path_the_makefile_uses(sdist: tarfile.TarFile) -> None:
    inside = {name.partition("/")[2] for name in sdist.getnames()}
    folders = {str(folder) for name in inside for folder in PurePosixPath(name).parents}
    named = makefile_paths()
    # The reading of the Makefile finds what `make test`, `make reliability` and
    # `make fuzz` need, and nothing it makes itself.
    assert {"src", "tests", ".importlinter", "scripts/install-netns-tools.sh"} <= named
    assert {"fuzz/run.py", "uv.lock", "package-lock.json"} <= named
    assert not {".venv", ".tools", "node_modules", "dist"} & named
    missing = sorted(path for path in named if path not in inside and path not in folders)
    assert not missing, f"the sdist lacks what the Makefile uses: {missing}"


def test_the_sdist_asks_for_rich_and_picows_only_with_their_extras(sdist: tarfile.TarFile) -> None:
    [pkg_info] = [
        member
        for member in sdist.getmembers()
        if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO")
    ]
    extracted = sdist.extractfile(pkg_info)
    assert extracted is not None
    metadata = email.message_from_bytes(extracted.read())
    assert "cli" in metadata.get_all("Provides-Extra", [])
    rich = [r for r in metadata.get_all("Requires-Dist", []) if r.startswith("rich")]
    assert rich == ["rich>=13; extra == 'cli'"]
    assert "fast" in metadata.get_all("Provides-Extra", [])
    picows = [r for r in metadata.get_all("Requires-Dist", []) if r.startswith("picows")]
    assert picows == ["picows<3,>=2.3.1; extra == 'fast'"]
