"""The instruction-set features that decide how fast a CPU runs each kind of variant.

Whether int8 beats fp32, or fp16 beats either, depends on a handful of CPU features (dot
product instructions for int8, half-precision arithmetic for fp16), not on the CPU's name.
They are read from /proc/cpuinfo ("flags" on x86, "Features" on ARM) and reported as
present and absent among those that matter, so an explanation can say "no fp16
arithmetic on this CPU" from evidence. Standard library only (the board's Python 3.8).
"""

# Per family: feature name as the kernel spells it -> what it gives inference.
INFERENCE_FEATURES = {
    "x86": (
        ("avx2", "256-bit integer and float SIMD"),
        ("fma", "fused multiply-add"),
        ("f16c", "fp16 <-> fp32 conversion (storage only, no fp16 arithmetic)"),
        ("avx512f", "512-bit SIMD"),
        ("avx512_vnni", "int8 dot product (512-bit)"),
        ("avx_vnni", "int8 dot product (256-bit)"),
        ("avx512_bf16", "bf16 dot product"),
        ("avx512_fp16", "fp16 arithmetic"),
        ("amx_int8", "int8 matrix tiles"),
        ("amx_bf16", "bf16 matrix tiles"),
    ),
    "arm": (
        ("asimd", "128-bit SIMD (NEON)"),
        ("neon", "128-bit SIMD (32-bit ARM)"),
        ("asimddp", "int8 dot product (SDOT/UDOT)"),
        ("i8mm", "int8 matrix multiply"),
        ("fphp", "fp16 scalar arithmetic"),
        ("asimdhp", "fp16 SIMD arithmetic"),
        ("bf16", "bf16 arithmetic"),
        ("sve", "scalable vectors"),
        ("sve2", "scalable vectors 2"),
    ),
}


def family_of(machine):
    """'x86', 'arm' or None, from platform.machine()."""
    machine = (machine or "").lower()
    if machine in ("x86_64", "amd64", "i386", "i686"):
        return "x86"
    if machine.startswith(("arm", "aarch64")):
        return "arm"
    return None


def parse(cpuinfo_text, machine):
    """{"family", "present", "absent", "source"} from the text of /proc/cpuinfo. Features
    are those of the first processor listed (on big.LITTLE boards the kernel lists the
    features all cores share). No flags line: present and absent are empty and the
    source says why."""
    family = family_of(machine)
    if family is None:
        return {"family": None, "present": [], "absent": [],
                "source": "not read: no feature list for a %s CPU" % (machine or "unknown")}
    listed = None
    for line in cpuinfo_text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() in ("flags", "features"):
            listed = set(value.split())
            break
    if listed is None:
        return {"family": family, "present": [], "absent": [],
                "source": "not read: /proc/cpuinfo has no flags or Features line"}
    names = [name for name, _ in INFERENCE_FEATURES[family]]
    if family == "arm":
        # 32-bit kernels say neon, 64-bit ones asimd: report the one this kernel uses.
        names.remove("neon" if "asimd" in listed or "neon" not in listed else "asimd")
    return {"family": family, "present": [n for n in names if n in listed],
            "absent": [n for n in names if n not in listed], "source": "/proc/cpuinfo"}


def read(machine, path="/proc/cpuinfo"):
    try:
        with open(path) as handle:
            text = handle.read(1 << 20)
    except OSError as exc:
        return {"family": family_of(machine), "present": [], "absent": [],
                "source": "not read: %s" % exc.strerror}
    return parse(text, machine)


# (implementer, part) as /proc/cpuinfo spells them on ARM -> the core's name. big.LITTLE
# boards list two or three kinds, and which kind a variant runs on decides its speed.
ARM_PARTS = {
    ("0x41", "0xd03"): "Cortex-A53", ("0x41", "0xd04"): "Cortex-A35", ("0x41", "0xd05"): "Cortex-A55",
    ("0x41", "0xd07"): "Cortex-A57", ("0x41", "0xd08"): "Cortex-A72", ("0x41", "0xd09"): "Cortex-A73",
    ("0x41", "0xd0a"): "Cortex-A75", ("0x41", "0xd0b"): "Cortex-A76", ("0x41", "0xd0c"): "Neoverse-N1",
    ("0x41", "0xd0d"): "Cortex-A77", ("0x41", "0xd40"): "Neoverse-V1", ("0x41", "0xd41"): "Cortex-A78",
    ("0x41", "0xd42"): "Cortex-A78AE", ("0x41", "0xd44"): "Cortex-X1", ("0x41", "0xd46"): "Cortex-A510",
    ("0x41", "0xd47"): "Cortex-A710", ("0x41", "0xd48"): "Cortex-X2", ("0x41", "0xd49"): "Neoverse-N2",
    ("0x41", "0xd4b"): "Cortex-A78C", ("0x41", "0xd4d"): "Cortex-A715", ("0x41", "0xd4e"): "Cortex-X3",
    ("0x41", "0xd4f"): "Neoverse-V2", ("0x41", "0xd80"): "Cortex-A520", ("0x41", "0xd81"): "Cortex-A720",
    ("0x41", "0xd82"): "Cortex-X4", ("0x4e", "0x004"): "NVIDIA Carmel",
}


def core_kinds(cpuinfo_text):
    """[{"part", "cpus"}] per kind of ARM core, in order of first appearance, from each
    processor block's "CPU implementer" and "CPU part"; a part not in ARM_PARTS keeps its
    codes ("0x41/0xd99"). Empty when the text names no parts (x86, or a kernel that omits them)."""
    kinds, processor, implementer = {}, None, None
    for line in cpuinfo_text.splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "processor":
            processor = int(value) if value.isdigit() else None
        elif name == "cpu implementer":
            implementer = value
        elif name == "cpu part" and processor is not None:
            part = ARM_PARTS.get((implementer, value), "%s/%s" % (implementer or "?", value))
            kinds.setdefault(part, []).append(processor)
    return [{"part": part, "cpus": cpus} for part, cpus in kinds.items()]


def read_core_kinds(path="/proc/cpuinfo"):
    try:
        with open(path) as handle:
            return core_kinds(handle.read(1 << 20))
    except OSError:
        return []
