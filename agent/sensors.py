"""Thermal state, CPU frequency and throttling, read before and after each run.

Every reading says where it came from; a source that does not exist on this board
is absent from the reading rather than filled in. ``sys_root`` lets tests point the
reader at a fixture tree shaped like a real board's /sys.
"""

import glob
import os
import re
import subprocess

# vcgencmd get_throttled bits (raspberrypi/utils vcgencmd.1): 0-3 are "now", 16-19 latch.
_THROTTLE_NOW_MASK = 0xF
_THROTTLE_LATCHED_SHIFT = 16
# Power sources (RAPL, INA3221, Pi 5 PMIC) are not read yet: say so, never invent a number.
POWER_NOT_MEASURED = {"measured": False,
                      "reason": "no power sensor source in this agent version reads this board"}

_THROTTLE_BITS = {0: "under-voltage", 1: "arm frequency capped", 2: "throttled",
                  3: "soft temperature limit"}


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _read_int(path):
    text = read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class Sensors:
    def __init__(self, sys_root="/", vcgencmd="vcgencmd"):
        self.sys_root = sys_root
        self.vcgencmd = vcgencmd

    def _path(self, *parts):
        return os.path.join(self.sys_root, *parts)

    def temperatures_c(self):
        temps = {}
        for zone in sorted(glob.glob(self._path("sys/class/thermal/thermal_zone*"))):
            milli = _read_int(os.path.join(zone, "temp"))
            kind = read_text(os.path.join(zone, "type")) or os.path.basename(zone)
            # Unreadable Jetson zones report -256 C; PMIC zones are not the SoC.
            if milli is None or milli <= -256000 or "pmic" in kind.lower():
                continue
            temps[kind] = milli / 1000.0
        return temps

    def cpufreq_khz(self):
        freqs = {}
        for policy in sorted(glob.glob(self._path("sys/devices/system/cpu/cpufreq/policy*"))):
            cur = _read_int(os.path.join(policy, "scaling_cur_freq"))
            if cur is None:
                continue
            freqs[os.path.basename(policy)] = {
                "cur": cur,
                "max": _read_int(os.path.join(policy, "scaling_max_freq")),
                "hw_max": _read_int(os.path.join(policy, "cpuinfo_max_freq")),
                "governor": read_text(os.path.join(policy, "scaling_governor")),
            }
        return freqs

    def throttle_counts(self):
        """x86 thermal_throttle counters, summed over CPUs (they only grow)."""
        total, found = 0, False
        for path in glob.glob(self._path("sys/devices/system/cpu/cpu*/thermal_throttle/*_throttle_count")):
            value = _read_int(path)
            if value is not None:
                total, found = total + value, True
        return total if found else None

    def vcgencmd_throttled(self):
        try:
            out = subprocess.run([self.vcgencmd, "get_throttled"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r"throttled=(0x[0-9a-fA-F]+)", out.stdout.decode("ascii", "replace"))
        return int(match.group(1), 16) if match else None

    def snapshot(self):
        snap = {"temperatures_c": self.temperatures_c(), "cpufreq_khz": self.cpufreq_khz()}
        counts = self.throttle_counts()
        if counts is not None:
            snap["throttle_count"] = counts
        flags = self.vcgencmd_throttled()
        if flags is not None:
            snap["vcgencmd_throttled"] = flags
        return snap


def throttling_verdict(before, after):
    """Was this run throttled? True/False with the evidence, or None when nothing can tell."""
    reasons = []
    sources = 0
    if "vcgencmd_throttled" in after:
        sources += 1
        now = after["vcgencmd_throttled"] & _THROTTLE_NOW_MASK
        new_latched = ((after["vcgencmd_throttled"] >> _THROTTLE_LATCHED_SHIFT)
                       & ~(before.get("vcgencmd_throttled", 0) >> _THROTTLE_LATCHED_SHIFT)
                       & _THROTTLE_NOW_MASK)
        for bit, label in _THROTTLE_BITS.items():
            if (now | new_latched) & (1 << bit):
                reasons.append("vcgencmd: " + label)
    if "throttle_count" in after and "throttle_count" in before:
        sources += 1
        grew = after["throttle_count"] - before["throttle_count"]
        if grew > 0:
            reasons.append("kernel thermal_throttle count rose by %d" % grew)
    for policy, freq in after.get("cpufreq_khz", {}).items():
        sources += 1
        # A performance-style cap below the configured maximum during the run.
        if freq.get("hw_max") and freq.get("max") and freq["max"] < freq["hw_max"] * 0.95:
            reasons.append("%s capped at %d of %d kHz" % (policy, freq["max"], freq["hw_max"]))
    if not sources:
        return {"throttled": None, "reason": "no throttling source on this device "
                "(no vcgencmd, thermal_throttle counters or cpufreq)"}
    return {"throttled": bool(reasons), "evidence": reasons}
