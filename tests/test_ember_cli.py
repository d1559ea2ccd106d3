import subprocess
import sys

from ember.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for cmd in COMMANDS:
        assert cmd.name in out


def test_unknown_command_is_a_clean_error():
    r = subprocess.run([sys.executable, "-m", "ember", "frobnicate"], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr
    assert "Traceback" not in r.stderr
