"""A full file system on the board (issue 9, item 16): install fails with exit 7 and one
line, leaves no staging directory and keeps the previous deployment active. The board
root is a real 4 MiB tmpfs, filled to the last byte after the push."""

import os
import subprocess

import pytest

from edgeshrink.host import deploy, inventory
from edgeshrink.host.compress import variants
from edgeshrink.host.lab.models import tiny_convnet
from edgeshrink.shared.errors import RemoteError


@pytest.fixture
def small_root(tmp_path):
    root = tmp_path / "board"
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.decode().strip())
    yield root
    subprocess.run(["umount", "-l", str(root)], capture_output=True)


def fill(folder):
    """Write until the file system refuses: ENOSPC from here on."""
    for name, block in (("filler", 65536), ("filler2", 1)):
        descriptor = os.open(os.path.join(str(folder), name), os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(descriptor, b"\0" * block)
        except OSError:
            pass
        finally:
            os.close(descriptor)


def test_install_on_a_full_board_fails_cleanly_and_keeps_the_previous_model(tmp_path, host_env, small_root):
    model = tiny_convnet(tmp_path / "tiny.onnx")
    source = deploy.resolve_model(model)
    made = {v.name: v for v in variants.make_variants(model, source.dataset, variants.default_specs()[:2],
                                                      cache_dir=tmp_path / "cache", log=lambda m: None)}
    device = inventory.Device(name="board", root=str(small_root))
    with deploy.open_session(device) as session:
        first = deploy.install(session, made["fp32"])
        assert first.installed
        deploy.push.push(session, {made["fp16"].sha256: made["fp16"].path})
        fill(small_root)
        with pytest.raises(RemoteError) as caught:
            deploy.install(session, made["fp16"])
        assert caught.value.exit_code == 7
        assert "no space left on the device" in caught.value.one_line().lower()
        assert "\n" not in caught.value.one_line()
        assert session.call("status")["active"] == first.active    # the agent still serves
    deployments = os.listdir(os.path.join(str(small_root), "deployments"))
    assert deployments == [first.active]                         # nothing half-made left behind
    assert os.readlink(os.path.join(str(small_root), "active")) == "deployments/" + first.active
