"""Thermal state, CPU frequency and throttling, read before and after each run.

Every reading says where it came from; a source that does not exist on this board
is absent from the reading rather than filled in. Sensors are read under a root
directory, ``EDGESHRINK_SYSFS_ROOT`` (default ``/``), so a fixture tree shaped like a
real board's /sys can drive the whole agent; ``vcgencmd`` is found on PATH.

Throttling is a change during the run, not a state: a frequency limit that was
already there before the run (a Jetson power mode, a lowered scaling_max_freq) is a
static cap and is noted, not blamed. With no readable source the verdict is
unknown (``throttled`` None) with the reason, never a clean "not throttled".
"""

import glob
import os
import re
import subprocess

SYSFS_ROOT_ENV = "EDGESHRINK_SYSFS_ROOT"

# vcgencmd get_throttled bits (raspberrypi/utils vcgencmd.1): 0-3 are "now", 16-19 the
# same conditions latched since boot.
_VCGENCMD_BITS = {0: "under-voltage", 1: "arm frequency capping", 2: "throttling",
                  3: "soft temperature limit"}
_VCGENCMD_STICKY_SHIFT = 16
# Under the performance governor the kernel keeps the clock at the policy's limit; a
# current frequency this far below it means firmware (or hardware) is holding it down.
PERFORMANCE_FLOOR = 0.9
# Drivers whose scaling_cur_freq is a measured average (APERF/MPERF, CPPC feedback
# counters) that falls whenever cores idle: below the limit says nothing about a cap.
_MEASURED_AVERAGE_DRIVERS = {"intel_pstate", "intel_cpufreq", "amd-pstate", "amd-pstate-epp",
                             "acpi-cpufreq", "cppc_cpufreq"}


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


def sysfs_root():
    """Where this agent reads /sys and /proc from: the board's own unless a test says otherwise."""
    return os.environ.get(SYSFS_ROOT_ENV) or "/"


class Sensors:
    def __init__(self, sys_root=None, vcgencmd="vcgencmd"):
        self.sys_root = sys_root or sysfs_root()
        self.vcgencmd = vcgencmd

    def _path(self, *parts):
        return os.path.join(self.sys_root, *parts)

    def _thermal_zones(self):
        zones = glob.glob(self._path("sys/class/thermal/thermal_zone*"))
        # /sys/class/thermal holds symlinks into /sys/devices/virtual/thermal; a tree
        # copied without them still has the zones themselves.
        return sorted(zones or glob.glob(self._path("sys/devices/virtual/thermal/thermal_zone*")))

    def thermal_zones(self):
        """{zone name: (temperature C, lowest passive trip C or None)} for readable SoC zones."""
        zones = {}
        for zone in self._thermal_zones():
            milli = _read_int(os.path.join(zone, "temp"))
            kind = read_text(os.path.join(zone, "type")) or os.path.basename(zone)
            # Unreadable Jetson zones report -256 C; PMIC zones are not the SoC.
            if milli is None or milli <= -256000 or "pmic" in kind.lower():
                continue
            name = kind if kind not in zones else "%s (%s)" % (kind, os.path.basename(zone))
            zones[name] = (milli / 1000.0, _passive_trip_c(zone))
        return zones

    def temperatures_c(self):
        return {name: temp for name, (temp, _) in self.thermal_zones().items()}

    def hottest_c(self):
        """The hottest readable zone, or None without one."""
        temps = self.temperatures_c()
        return max(temps.values()) if temps else None

    def cpufreq_khz(self):
        freqs = {}
        for policy in sorted(glob.glob(self._path("sys/devices/system/cpu/cpufreq/policy*"))):
            reading = {
                "cur": _read_int(os.path.join(policy, "scaling_cur_freq")),
                "max": _read_int(os.path.join(policy, "scaling_max_freq")),
                "hw_max": _read_int(os.path.join(policy, "cpuinfo_max_freq")),
                "governor": read_text(os.path.join(policy, "scaling_governor")),
                "driver": read_text(os.path.join(policy, "scaling_driver")),
            }
            if reading["cur"] is not None or reading["max"] is not None:
                freqs[os.path.basename(policy)] = reading
        return freqs

    def throttle_counts(self):
        """x86 thermal_throttle counters, summed over CPUs (they only grow)."""
        total, found = 0, False
        for path in glob.glob(self._path("sys/devices/system/cpu/cpu*/thermal_throttle/*_throttle_count")):
            value = _read_int(path)
            if value is not None:
                total, found = total + value, True
        return total if found else None

    def rpi_undervoltage_alarm(self):
        """The kernel's view of under-voltage on a Raspberry Pi (hwmon rpi_volt), or None."""
        for hwmon in sorted(glob.glob(self._path("sys/class/hwmon/hwmon*"))):
            if read_text(os.path.join(hwmon, "name")) == "rpi_volt":
                return _read_int(os.path.join(hwmon, "in0_lcrit_alarm"))
        return None

    def vcgencmd_throttled(self):
        try:
            out = subprocess.run([self.vcgencmd, "get_throttled"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r"throttled=(0x[0-9a-fA-F]+)", out.stdout.decode("ascii", "replace"))
        return int(match.group(1), 16) if match else None

    def board_model(self):
        try:
            with open(self._path("proc/device-tree/model"), "rb") as handle:
                return handle.read().rstrip(b"\x00").decode("utf-8", "replace") or None
        except OSError:
            return None

    def snapshot(self):
        zones = self.thermal_zones()
        snap = {"sys_root": self.sys_root,
                "temperatures_c": {name: temp for name, (temp, _) in zones.items()},
                "passive_trips_c": {name: trip for name, (_, trip) in zones.items() if trip is not None},
                "cpufreq_khz": self.cpufreq_khz()}
        optional = (("throttle_count", self.throttle_counts()),
                    ("rpi_undervoltage_alarm", self.rpi_undervoltage_alarm()),
                    ("vcgencmd_throttled", self.vcgencmd_throttled()))
        snap.update((key, value) for key, value in optional if value is not None)
        return snap


def _passive_trip_c(zone):
    """The lowest passive trip point of a zone: where the kernel starts cooling by slowing the CPU."""
    trips = []
    for type_path in glob.glob(os.path.join(zone, "trip_point_*_type")):
        if read_text(type_path) != "passive":
            continue
        milli = _read_int(type_path[:-len("_type")] + "_temp")
        if milli is not None and milli > 0:  # disabled trips read 0 or negative
            trips.append(milli / 1000.0)
    return min(trips) if trips else None


class _Findings:
    def __init__(self):
        self.evidence, self.notes, self.sources = [], [], []


def _cpufreq(before, after, found):
    policies = after.get("cpufreq_khz") or {}
    if policies:
        found.sources.append("cpufreq")
    # Why the current-frequency rule did not apply, grouped: an x86 box has one policy per CPU.
    not_applicable, static_caps = {}, {}
    for name, freq in sorted(policies.items()):
        limit, hw_max, cur = freq.get("max"), freq.get("hw_max"), freq.get("cur")
        earlier = ((before.get("cpufreq_khz") or {}).get(name) or {}).get("max")
        if limit is not None and earlier is not None and limit < earlier:
            found.evidence.append("cpufreq: %s limit dropped from %d to %d kHz during the run"
                                  % (name, earlier, limit))
        elif limit is not None and hw_max and limit < hw_max:
            static_caps.setdefault((limit, hw_max), []).append(name)
        if cur is None or not limit:
            continue
        if freq.get("driver") in _MEASURED_AVERAGE_DRIVERS:
            why = ("driver %s reports a measured average that falls when cores idle" % freq["driver"])
        elif freq.get("governor") != "performance":
            why = "governor %s lowers the clock itself" % (freq.get("governor") or "unknown")
        else:
            if cur < limit * PERFORMANCE_FLOOR:
                found.evidence.append("cpufreq: %s at %d kHz under the performance governor, below its limit "
                                      "of %d kHz (the clock is held down)" % (name, cur, limit))
            continue
        not_applicable.setdefault(why, []).append(name)
    for (limit, hw_max), names in sorted(static_caps.items()):
        found.notes.append("static cap: %s limited to %d of %d kHz; not throttling"
                           % (", ".join(names), limit, hw_max))
    for why, names in sorted(not_applicable.items()):
        found.notes.append("cpufreq: %s on %s; only a drop of the limit counts" % (why, ", ".join(names)))


def _vcgencmd(before, after, found):
    if "vcgencmd_throttled" not in after:
        return
    found.sources.append("vcgencmd")
    flags = after["vcgencmd_throttled"]
    earlier = before.get("vcgencmd_throttled")
    for bit, label in sorted(_VCGENCMD_BITS.items()):
        if flags & (1 << bit):
            found.evidence.append("vcgencmd: %s now (get_throttled=%#x)" % (label, flags))
        if not flags & (1 << (bit + _VCGENCMD_STICKY_SHIFT)):
            continue
        if earlier is None:
            found.notes.append("vcgencmd: %s has occurred since boot; not read before this run, so not "
                               "attributed to it" % label)
        elif earlier & (1 << (bit + _VCGENCMD_STICKY_SHIFT)):
            found.notes.append("vcgencmd: %s occurred before this run (sticky bit set since boot)" % label)
        else:
            found.evidence.append("vcgencmd: %s occurred during this run (get_throttled %#x -> %#x)"
                                  % (label, earlier, flags))


def _rpi_volt(after, found):
    if "rpi_undervoltage_alarm" not in after:
        return
    found.sources.append("rpi_volt")
    if after["rpi_undervoltage_alarm"]:
        found.evidence.append("rpi_volt: under-voltage alarm (in0_lcrit_alarm=1)")


def _throttle_counters(before, after, found):
    if "throttle_count" not in after or "throttle_count" not in before:
        return
    found.sources.append("thermal_throttle")
    grew = after["throttle_count"] - before["throttle_count"]
    if grew > 0:
        found.evidence.append("thermal_throttle: kernel throttle count rose by %d" % grew)


def _passive_trips(after, found):
    trips = after.get("passive_trips_c") or {}
    if trips:
        found.sources.append("thermal zones")
    temps = after.get("temperatures_c") or {}
    for name, trip in sorted(trips.items()):
        if name in temps and temps[name] >= trip:
            found.evidence.append("thermal zone %s at %.1f C, at or above its passive trip point %.1f C"
                                  % (name, temps[name], trip))


def throttling_verdict(before, after):
    """Was the run between these two snapshots throttled?

    {"throttled": True|False|None, "evidence": [...], "notes": [...], "sources": [...]},
    plus "reason" when no source could tell (throttled None).
    """
    found = _Findings()
    _cpufreq(before, after, found)
    _vcgencmd(before, after, found)
    _rpi_volt(after, found)
    _throttle_counters(before, after, found)
    _passive_trips(after, found)
    verdict = {"throttled": bool(found.evidence) if found.sources else None,
               "evidence": found.evidence, "notes": found.notes, "sources": found.sources}
    if not found.sources:
        # Temperatures alone (zones without a passive trip) cannot tell a throttled run.
        verdict["reason"] = ("no readable source (no cpufreq, vcgencmd, thermal_throttle counters or thermal "
                             "zones with a passive trip point under %s)" % after.get("sys_root", "/"))
    return verdict


def combine_verdicts(verdicts):
    """One verdict for a variant timed in several rounds [(round, verdict)]: throttled if
    any round was, unknown only if no round could tell."""
    if len(verdicts) == 1:
        return verdicts[0][1]
    known = [(r, v) for r, v in verdicts if v["throttled"] is not None]
    combined = {"throttled": any(v["throttled"] for _, v in known) if known else None,
                "evidence": ["round %d: %s" % (r, line) for r, v in known for line in v["evidence"]],
                "notes": [], "sources": []}
    for _, verdict in verdicts:
        for key in ("notes", "sources"):
            combined[key].extend(line for line in verdict[key] if line not in combined[key])
    if not known:
        combined["reason"] = verdicts[-1][1].get("reason")
    return combined
