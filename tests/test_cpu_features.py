"""The CPU features that decide int8 and fp16 speed, read from /proc/cpuinfo as real
boards print it (texts below are the first processor's lines of each board)."""

import platform

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeshrink.agent.cpu_features import INFERENCE_FEATURES, core_kinds, family_of, parse, read
from edgeshrink.host.profile_view import inventory_rows

from .conftest import REPO, cli

XEON = ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
        "flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512_vnni avx512_bf16 "
        "avx_vnni amx_int8 amx_bf16 amx_tile\n")
LAPTOP_NO_VNNI = "processor\t: 0\nflags\t\t: fpu sse sse2 avx fma f16c avx2\n"
PI4 = ("processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
       "CPU implementer\t: 0x41\nCPU part\t: 0xd08\n")
PI5 = ("processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
       "fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU part\t: 0xd0b\n")
ORIN = ("processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
        "asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg\nCPU part\t: 0xd42\n")
PI_32BIT = ("processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nFeatures\t: half thumb fastmult vfp "
            "edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n")


@pytest.mark.parametrize("text, machine, present, absent_includes", [
    (XEON, "x86_64", ["avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
                      "amx_bf16"], ["avx512_fp16"]),
    (LAPTOP_NO_VNNI, "x86_64", ["avx2", "fma", "f16c"], ["avx512_vnni", "avx_vnni", "avx512f"]),
    (PI4, "aarch64", ["asimd"], ["asimddp", "fphp", "asimdhp", "i8mm"]),
    (PI5, "aarch64", ["asimd", "asimddp", "fphp", "asimdhp"], ["i8mm", "bf16", "sve"]),
    (ORIN, "aarch64", ["asimd", "asimddp", "fphp", "asimdhp"], ["i8mm", "sve"]),
    (PI_32BIT, "armv7l", ["neon"], ["asimddp", "fphp"]),
])
def test_boards_report_the_features_that_matter(text, machine, present, absent_includes):
    features = parse(text, machine)
    assert features["present"] == present and features["source"] == "/proc/cpuinfo"
    assert set(absent_includes) <= set(features["absent"])
    names = {name for name, _ in INFERENCE_FEATURES[features["family"]]}
    assert set(features["present"]) | set(features["absent"]) <= names
    assert not set(features["present"]) & set(features["absent"])
    assert not ({"asimd", "neon"} <= set(features["present"]) | set(features["absent"]))  # one SIMD name per kernel


def test_no_feature_list_is_said_not_guessed(tmp_path):
    assert parse("processor\t: 0\nhart\t: 0\nisa\t: rv64imafdc\n", "riscv64")["source"].startswith("not read")
    no_line = parse("processor\t: 0\nmodel name\t: x\n", "x86_64")
    assert no_line["present"] == [] and "no flags or Features line" in no_line["source"]
    missing = read("x86_64", path=str(tmp_path / "absent"))
    assert missing["present"] == [] and missing["source"].startswith("not read: ")


def _processors(parts):
    """A cpuinfo text with one block per CPU: [(implementer, part)]."""
    return "\n".join("processor\t: %d\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd\nCPU implementer\t: %s\n"
                     "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 1\n"
                     % (n, implementer, part) for n, (implementer, part) in enumerate(parts))


@pytest.mark.parametrize("parts, kinds, line", [
    ([("0x41", "0xd08")] * 4, [("Cortex-A72", [0, 1, 2, 3])], "4 x Cortex-A72 (cpu 0-3)"),     # Pi 4
    ([("0x41", "0xd42")] * 6, [("Cortex-A78AE", list(range(6)))], "6 x Cortex-A78AE (cpu 0-5)"),  # Orin Nano
    # RK3588 (Orange Pi 5, Rock 5B): four little cores first, then two pairs of big ones.
    ([("0x41", "0xd05")] * 4 + [("0x41", "0xd0b")] * 4, [("Cortex-A55", [0, 1, 2, 3]), ("Cortex-A76", [4, 5, 6, 7])],
     "4 x Cortex-A55 (cpu 0-3) + 4 x Cortex-A76 (cpu 4-7)"),
    ([("0x41", "0xd99"), ("0x4e", "0x004")], [("0x41/0xd99", [0]), ("NVIDIA Carmel", [1])],
     "1 x 0x41/0xd99 (cpu 0) + 1 x NVIDIA Carmel (cpu 1)"),                          # an unknown part keeps its codes
])
def test_big_little_boards_name_each_kind_of_core_and_its_cpus(parts, kinds, line):
    found = core_kinds(_processors(parts))
    assert [(k["part"], k["cpus"]) for k in found] == kinds
    assert dict(inventory_rows({"core_kinds": found}))["core kinds"] == line


def test_x86_names_no_core_kinds_and_says_so():
    assert core_kinds(XEON) == []
    assert dict(inventory_rows({"core_kinds": []}))["core kinds"].startswith("not named by the kernel")


@given(st.text(max_size=2000), st.sampled_from(["x86_64", "aarch64", "armv7l", "riscv64", "", "AMD64"]))
def test_any_cpuinfo_text_parses_without_raising(text, machine):
    features = parse(text, machine)
    assert set(features) == {"family", "present", "absent", "source"}
    assert features["family"] == family_of(machine)
    kinds = core_kinds(text)
    assert all(isinstance(k["part"], str) and all(isinstance(c, int) for c in k["cpus"]) for k in kinds)
    dict(inventory_rows({"core_kinds": kinds}))   # whatever a board sends, the inventory prints


def test_the_real_agent_reports_this_cpus_features(tmp_path, host_env):
    result = cli(host_env, REPO / "devices.toml", "devices", "check", "local", "--json")
    assert result.returncode == 0, result.stderr
    import json

    features = json.loads(result.stdout)["devices"][0]["cpu_features"]
    assert features == read(platform.machine())
