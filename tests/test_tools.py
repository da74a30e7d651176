"""Finding and installing the external tools: ``hwgen doctor`` and ``ensure_icarus``, which
``make test`` runs first on a fresh machine (fake ``apt-get``/``iverilog`` scripts on a fake
PATH: nothing here needs or changes the host's tools)."""

import re
import stat
import time

import pytest

from hwgen.cli import main
from hwgen.core.errors import HwgenError
from hwgen.flow import tools


def _script(path, body: str):
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """A PATH with only what a test puts into ``bin`` (the scripts name /bin/sh directly)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    monkeypatch.setenv("PATH", str(bin_))
    return bin_


def _fake_icarus(bin_):
    _script(bin_ / "iverilog", 'echo "Icarus Verilog version 11.0 (fake) ()"')
    _script(bin_ / "vvp", "exit 0")


def test_icarus_present(bare_path):
    _fake_icarus(bare_path)
    assert tools.ensure_icarus(install=False) == "Icarus Verilog version 11.0 (fake) ()"


def test_icarus_missing_without_install_names_the_command(bare_path):
    with pytest.raises(HwgenError, match=r"^Icarus Verilog \(iverilog\) is not installed: run "
                                         r"`(sudo )?apt-get install -y iverilog`$"):
        tools.ensure_icarus(install=False)


def test_not_root_stops_within_seconds(bare_path, monkeypatch):
    monkeypatch.setattr(tools.os, "geteuid", lambda: 1000)
    _script(bare_path / "apt-get", "sleep 60")            # must not even be tried
    t0 = time.monotonic()
    with pytest.raises(HwgenError, match=r"^Icarus Verilog \(iverilog\) is not installed and "
                                         r"cannot be installed here \(not root\): run "
                                         r"`sudo apt-get install -y iverilog`$"):
        tools.ensure_icarus(install=True)
    assert time.monotonic() - t0 < 5


def test_no_apt(bare_path, monkeypatch):
    monkeypatch.setattr(tools.os, "geteuid", lambda: 0)
    with pytest.raises(HwgenError, match=r"\(no apt-get on PATH\): run "
                                         r"`apt-get install -y iverilog`$"):
        tools.ensure_icarus(install=True)


def test_installs_with_apt_after_update(bare_path, monkeypatch, tmp_path):
    """The first install fails (stale package lists), `apt-get update` then install works."""
    monkeypatch.setattr(tools.os, "geteuid", lambda: 0)
    log = tmp_path / "apt.log"
    _script(bare_path / "apt-get", f"""PATH=/usr/bin:/bin:$PATH
echo "$@" >> {log}
case "$1" in
  update) touch {tmp_path}/updated ;;
  install) [ -e {tmp_path}/updated ] || {{ echo "E: Unable to locate package iverilog"; exit 100; }}
           printf '#!/bin/sh\\necho "Icarus Verilog version 11.0 (apt) ()"\\n' \\
             > {bare_path}/iverilog
           printf '#!/bin/sh\\nexit 0\\n' > {bare_path}/vvp
           chmod +x {bare_path}/iverilog {bare_path}/vvp ;;
esac""")
    lines = []
    assert tools.ensure_icarus(install=True, progress=lines.append) == \
        "Icarus Verilog version 11.0 (apt) ()"
    assert log.read_text().splitlines() == ["install -y -q iverilog", "update -q",
                                            "install -y -q iverilog"]
    assert lines[-1] == "[tools] installed: Icarus Verilog version 11.0 (apt) ()"


def test_failed_install_says_why(bare_path, monkeypatch):
    monkeypatch.setattr(tools.os, "geteuid", lambda: 0)
    _script(bare_path / "apt-get", 'echo "E: Could not get lock /var/lib/dpkg/lock"; exit 100')
    with pytest.raises(HwgenError, match=r"^installing Icarus Verilog failed: E: Could not get "
                                         r"lock /var/lib/dpkg/lock; run "
                                         r"`apt-get install -y iverilog`$"):
        tools.ensure_icarus(install=True, progress=lambda line: None)


def test_doctor_command(bare_path, capsys, monkeypatch):
    monkeypatch.setattr(tools.os, "geteuid", lambda: 1000)
    assert main(["doctor"]) == 0                           # reports, requires nothing
    out, err = capsys.readouterr()
    assert re.search(r"^  icarus +MISSING: Icarus Verilog \(iverilog\) is not installed: run "
                     r"`sudo apt-get install -y iverilog`$", out, re.M), out
    assert main(["doctor", "--require", "icarus", "--install"]) == 1
    out, err = capsys.readouterr()
    assert err == ("hwgen: error: Icarus Verilog (iverilog) is not installed and cannot be "
                   "installed here (not root): run `sudo apt-get install -y iverilog`\n")
    _fake_icarus(bare_path)
    assert main(["doctor", "--require", "icarus"]) == 0
    out, _ = capsys.readouterr()
    assert re.search(r"^  icarus +Icarus Verilog version 11\.0 \(fake\) \(\)$", out, re.M)
