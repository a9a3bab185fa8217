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
