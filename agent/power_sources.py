"""Where a board's power comes from: one registry of on-board sources, each with its boundary.

Families, in the order discover() tries them (board-input rails first):

    ina3221    Jetson, JetPack 5/6: upstream hwmon INA3221, rail VDD_IN (W = mV x mA / 1e6)
    ina3221x   Jetson, JetPack 4: NVIDIA's IIO INA3221, rail POM_5V_IN (in_powerN_input, mW)
    pi5-pmic   Raspberry Pi 5: `vcgencmd pmic_read_adc`, the sum of V x A over the PMIC rails
    hwmon      any other hwmon chip with power*_input/_average (uW) or inN_input x currN_input
               (a graphics card's sensor only when named with rail=)
    rapl       powercap RAPL (Intel, and AMD since Linux 5.11): psys, else the package(s), in uJ

Sources are read under a root directory (the board's / unless a test passes a fixture
tree) and ``vcgencmd`` is run by the path given. Paths are resolved once, at discovery:
a read opens one small file per rail (or runs vcgencmd once) and globs nothing.

A source comes back only after one successful read. Otherwise discover() returns no
source and a one-line reason naming what each family found, so "power not measured"
always says why. None of these figures is wall power; ``boundary`` says what each covers.
Layouts and units: shared/reference/power-and-thermal-sources.md (sections 1-4, 6).

Standard library only, Python >= 3.8: this module runs on the board.
"""

import abc
import glob
import math
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

# ENERGY: a cumulative counter, read() returns joules; POWER: a sensor, read() returns watts.
from ..shared.energy import ENERGY, POWER


# The registry, in discovery order.
SOURCE_NAMES = ("ina3221", "ina3221x", "pi5-pmic", "hwmon", "rapl")

DEFAULT_PERIOD_S = 0.1
VCGENCMD_TIMEOUT_S = 5.0
# Jetson rails that carry the whole module's input (jetson-stats' total_power() uses these).
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
# hwmon drivers of graphics cards: their power*_average is the card's, not the board's.
GPU_HWMON_CHIPS = ("amdgpu", "radeon", "nouveau", "i915", "xe")
# Anything above this from an edge board is a misread, not a measurement.
MAX_PLAUSIBLE_W = 10000.0
# sysfs numbers are short; a longer file is not one (and a bounded read keeps ints small).
_MAX_NUMBER_BYTES = 64
_MAX_TEXT_BYTES = 256
_INTEGER = re.compile(rb"-?[0-9]+")
# The reference's regex for `pmic_read_adc` lines, e.g. "  VDD_CORE_A current(7)=6.22421000A".
_PMIC_LINE = re.compile(r"^\s*(\S+?)_([AV])\s+(?:current|volt)\(\d+\)=([\d.]+)[AV]")
_RAPL_TOP_ZONE = re.compile(r"intel-rapl:(\d+)$")
_RAPL_SUBZONE = re.compile(r"intel-rapl:(\d+):(\d+)$")

RAPL_NOT_PERMITTED = ("RAPL energy_uj is not readable by this user (root only since Linux 5.10, "
                      "CVE-2020-8694); run the agent as root or grant read access")
_NAME_A_RAIL = 'name one with rail = "<label>" in [devices.NAME.power]'


class PowerReadError(Exception):
    """A read failed; str(exc) is one line saying why."""


class _NotPermitted(PowerReadError):
    """The file exists but this user may not read it (RAPL's energy_uj since Linux 5.10)."""


# ---- reading sysfs -----------------------------------------------------------------


def _one_line(text, limit=160):
    """Text from sysfs, a config file or a subprocess, safe inside a one-line message."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text).strip())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _read_bytes(path, limit):
    with open(path, "rb") as handle:
        return handle.read(limit + 1)


def read_sysfs_int(path):
    """The integer a sysfs file holds; PowerReadError (one line) for anything else."""
    try:
        raw = _read_bytes(path, _MAX_NUMBER_BYTES)
    except PermissionError:
        raise _NotPermitted("%s is not readable by this user (permission denied)" % path)
    except (OSError, ValueError) as exc:
        # Drivers fail reads with an errno (ENODATA for a disabled INA3221 channel).
        raise PowerReadError("cannot read %s: %s" % (path, _one_line(getattr(exc, "strerror", None) or exc)))
    if len(raw) > _MAX_NUMBER_BYTES:
        raise PowerReadError("%s holds more than %d bytes, not a number" % (path, _MAX_NUMBER_BYTES))
    text = raw.strip(b" \t\r\n\x00")
    # fullmatch, not int(): int() also takes "+5", "5_000" and surrounding whitespace runs.
    if not _INTEGER.fullmatch(text):
        raise PowerReadError("%s holds %s, not an integer" % (path, _one_line(repr(raw[:24]))))
    return int(text)


def _read_label(path):
    """A sysfs text file (name, label), decoded leniently; None when it cannot be read."""
    try:
        raw = _read_bytes(path, _MAX_TEXT_BYTES)[:_MAX_TEXT_BYTES]
    except (OSError, ValueError):
        return None
    text = _one_line(raw.replace(b"\x00", b" ").decode("utf-8", "replace"))
    return text or None


def _checked_watts(watts, where):
    if not math.isfinite(watts) or watts < 0 or watts > MAX_PLAUSIBLE_W:
        raise PowerReadError("%s gives %r W, outside 0..%g W" % (where, watts, MAX_PLAUSIBLE_W))
    return watts


def _natural(path):
    """hwmon10 after hwmon9: sort by the numbers in a name, not its characters."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


# ---- sources -------------------------------------------------------------------------


class PowerSource(abc.ABC):
    """One rail of one family, resolved to the files (or command) a read touches.
    Each family's subclass says how its files become one value (``_read``).

    ``reads`` lists those files or that command: every reading says where it came from.
    """

    def __init__(self, name, rail, boundary, kind, unit, period_s=DEFAULT_PERIOD_S, wrap_j=None, reads=()):
        self.name = name
        self.rail = rail
        self.boundary = boundary
        self.kind = kind
        self.unit = unit
        self.period_s = period_s
        self.wrap_j = wrap_j
        self.reads = tuple(reads)
        self._closed = False

    def read(self):
        """Joules (ENERGY) or watts (POWER); PowerReadError on any failure."""
        if self._closed:
            raise PowerReadError("%s %s was closed" % (self.name, self.rail))
        try:
            return self._read()
        except PowerReadError:
            raise
        except Exception as exc:  # a parser slip must reach the sampler as a failed read, not a crash
            raise PowerReadError("%s %s: %s: %s" % (self.name, self.rail, type(exc).__name__, _one_line(exc)))

    @abc.abstractmethod
    def _read(self):
        """The value in joules or watts, read from ``reads``."""

    def describe(self):
        return {"name": self.name, "rail": self.rail, "boundary": self.boundary, "kind": self.kind,
                "unit": self.unit, "period_s": self.period_s, "wrap_j": self.wrap_j}

    def close(self):
        # Nothing is held open between reads (sysfs files are reopened each time, so a
        # device that goes away fails one read instead of leaving a stale descriptor).
        self._closed = True

    def __repr__(self):
        return "PowerSource(%s, %s, %s)" % (self.name, self.rail, self.kind)


class _MilliVoltsTimesMilliAmps(PowerSource):
    """W = mV x mA / 1e6: INA3221 on JetPack 5/6 has no power file, nor do many hwmon chips."""

    def __init__(self, volts_path, amps_path, **kwargs):
        super().__init__(kind=POWER, reads=(volts_path, amps_path), **kwargs)
        self._volts, self._amps = volts_path, amps_path

    def _read(self):
        millivolts, milliamps = read_sysfs_int(self._volts), read_sysfs_int(self._amps)
        if millivolts < 0 or milliamps < 0:
            # Reverse current or a misread; neither is the rail's consumption.
            raise PowerReadError("negative reading on %s: %d mV (%s), %d mA (%s)"
                                 % (self.rail, millivolts, self._volts, milliamps, self._amps))
        return _checked_watts(millivolts * milliamps / 1e6, "%s (%s x %s)" % (self.rail, self._volts, self._amps))


class _ScaledPower(PowerSource):
    """One file holding power in a fixed unit: uW (hwmon power*_input) or mW (in_powerN_input)."""

    def __init__(self, path, watts_per_unit, **kwargs):
        super().__init__(kind=POWER, reads=(path,), **kwargs)
        self._path, self._scale = path, watts_per_unit

    def _read(self):
        value = read_sysfs_int(self._path)
        if value < 0:
            raise PowerReadError("negative power %d in %s" % (value, self._path))
        return _checked_watts(value * self._scale, self._path)


@dataclass
class _RaplZone:
    path: str
    name: str          # "package-0", "psys", or "package-0/core" for a subzone
    range_uj: int      # energy_uj restarts at 0 after this


def _read_rapl_uj(zone):
    path = os.path.join(zone.path, "energy_uj")
    try:
        value = read_sysfs_int(path)
    except _NotPermitted:
        raise PowerReadError(RAPL_NOT_PERMITTED)
    if not 0 <= value <= zone.range_uj:
        raise PowerReadError("%s holds %d uJ, outside 0..max_energy_range_uj %d" % (path, value, zone.range_uj))
    return value


class _RaplCounter(PowerSource):
    """One RAPL zone: the raw counter in joules; the sampler unwraps it with wrap_j."""

    def __init__(self, zone, **kwargs):
        super().__init__(kind=ENERGY, wrap_j=zone.range_uj / 1e6, reads=(os.path.join(zone.path, "energy_uj"),),
                         **kwargs)
        self._zone = zone

    def _read(self):
        return _read_rapl_uj(self._zone) / 1e6


class _RaplSum(PowerSource):
    """Several package zones (multi-socket or multi-die) as one counter that never wraps.

    Each package's counter wraps at its own range, so the raw sum has no single wrap
    point. Each read takes every package's rise since the last read (adding the range
    back when a counter went down) and adds it to a running total; wrap_j is None.
    This holds as long as reads come more often than the fastest wrap (minutes even
    at hundreds of watts: 262143 J at 200 W is 22 minutes).
    """

    def __init__(self, zones, **kwargs):
        super().__init__(kind=ENERGY, wrap_j=None,
                         reads=[os.path.join(zone.path, "energy_uj") for zone in zones], **kwargs)
        self._zones = list(zones)
        self._last = None      # raw uJ per zone at the last read
        self._total_uj = 0
        self._lock = threading.Lock()

    def _read(self):
        raws = [_read_rapl_uj(zone) for zone in self._zones]
        with self._lock:
            if self._last is None:
                self._total_uj = sum(raws)
            else:
                for zone, before, now in zip(self._zones, self._last, raws):
                    self._total_uj += now - before if now >= before else now + zone.range_uj - before
            self._last = raws
            return self._total_uj / 1e6


def parse_pmic_read_adc(output):
    """{rail: watts} from `vcgencmd pmic_read_adc` output, for rails with both _V and _A lines.

    Lines pair by the name before _A/_V: the (N) indices of a rail's current and voltage
    differ. Rails with a voltage only (EXT5V, BATT) are left out. Never raises: a line
    that does not parse is skipped, and read() notices a rail that went missing.
    """
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    amps, volts = {}, {}
    # The firmware mailbox pads with NULs (zeus reads it that way too).
    for line in str(output).replace("\x00", "\n").splitlines():
        match = _PMIC_LINE.match(line)
        if match is None:
            continue
        rail, which, text = match.groups()
        try:
            value = float(text)   # the regex lets "1.2.3" and "." through
        except ValueError:
            continue
        if math.isfinite(value):
            (amps if which == "A" else volts)[rail] = value
    watts = {}
    for rail in sorted(set(amps) & set(volts)):
        product = volts[rail] * amps[rail]
        if math.isfinite(product):
            watts[rail] = product
    return watts


def _run_pmic_read_adc(vcgencmd):
    """The command's stdout, or PowerReadError saying why it is not available."""
    if not isinstance(vcgencmd, str) or not vcgencmd:
        raise PowerReadError("no vcgencmd configured")
    try:
        done = subprocess.run([vcgencmd, "pmic_read_adc"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=VCGENCMD_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise PowerReadError("no vcgencmd at %s" % _one_line(vcgencmd))
    except subprocess.TimeoutExpired:
        raise PowerReadError("%s pmic_read_adc took over %g s" % (_one_line(vcgencmd), VCGENCMD_TIMEOUT_S))
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise PowerReadError("cannot run %s: %s" % (_one_line(vcgencmd), _one_line(exc)))
    out = done.stdout.decode("utf-8", "replace")
    said = _vcgencmd_complaint(done.stderr.decode("utf-8", "replace") + "\n" + out)
    if done.returncode != 0:
        # A firmware without the command prints `error=1 error_msg="Command not registered"`
        # (on stdout, after "vc_gencmd_read_response returned -1") and exits 255.
        raise PowerReadError("%s pmic_read_adc exited %d: %s" % (_one_line(vcgencmd), done.returncode, said))
    if "error_msg" in out:
        raise PowerReadError("%s pmic_read_adc was refused: %s" % (_one_line(vcgencmd), said))
    return out


def _vcgencmd_complaint(text):
    lines = [line.strip() for line in text.replace("\x00", "\n").splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "can't" in line.lower():
            return _one_line(line, 120)
    return _one_line(lines[0], 120) if lines else "no output"


class _Pi5Pmic(PowerSource):
    """Raspberry Pi 5 PMIC rails through vcgencmd: one subprocess per read (~23 ms of firmware time)."""

    def __init__(self, vcgencmd, rails, **kwargs):
        super().__init__(kind=POWER, reads=("%s pmic_read_adc" % vcgencmd,), **kwargs)
        self._vcgencmd, self._rails = vcgencmd, tuple(rails)

    def _read(self):
        watts = parse_pmic_read_adc(_run_pmic_read_adc(self._vcgencmd))
        missing = [rail for rail in self._rails if rail not in watts]
        if missing:
            # A sum over fewer rails than discovery saw would be silently low.
            raise PowerReadError("pmic_read_adc output lacked rail(s) %s" % ", ".join(missing))
        return _checked_watts(sum(watts[rail] for rail in self._rails), "pmic_read_adc")


# ---- families: what is on this board ---------------------------------------------------


@dataclass
class _Scan:
    """What one family found: the rails it can read and which to use by default."""
    rails: List[str] = field(default_factory=list)          # what rail= may name, in listing order
    defaults: List[str] = field(default_factory=list)       # tried in order when no rail is named
    why_none: str = ""                                      # when defaults is empty
    build: Optional[Callable[[str], PowerSource]] = None
    aliases: Dict[str, str] = field(default_factory=dict)   # other accepted names -> rail

    def resolve(self, rail):
        if not isinstance(rail, str):
            return None
        if rail in self.rails:
            return rail
        return self.aliases.get(rail)


class _Board:
    def __init__(self, sys_root, vcgencmd):
        self.root = sys_root if isinstance(sys_root, str) and sys_root else "/"
        self.vcgencmd = vcgencmd

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def glob(self, *parts):
        return sorted(glob.glob(self.path(*parts)), key=_natural)

    def model(self):
        label = _read_label(self.path("proc/device-tree/model"))
        return label.strip() if label else None


def _jetson_rail_boundary(label):
    if label in INPUT_RAILS:
        return "module input (%s); excludes the carrier board and USB loads" % label
    return "one INA3221 rail (%s) only; not the module input, other rails are not included" % label


def _input_rail_defaults(rails):
    defaults = [rail for rail in INPUT_RAILS if rail in rails]
    if defaults:
        return defaults, ""
    # AGX Orin and AGX Xavier: summing sub-rails would double count or miss loads,
    # so the user picks the rail whose boundary they want.
    return [], "no input rail (VDD_IN or POM_5V_IN) among %s; %s" % (", ".join(rails), _NAME_A_RAIL)


def _skip_ina_label(label, channel):
    # Channel 7 is "sum of shunt voltages"; disconnected channels are labelled NC.
    return not label or channel not in (1, 2, 3) or label.upper() == "NC" or label.lower() == "sum of shunt voltages"


def _scan_ina3221(board):
    """JetPack 5/6: sys/bus/i2c/devices/*/hwmon/hwmon*/ with name ina3221, matched by label."""
    found, chips = {}, []
    for device in board.glob("sys/bus/i2c/devices/*"):
        if "ina3221" not in (_read_label(os.path.join(device, "name")) or ""):
            continue
        for chip in sorted(glob.glob(os.path.join(device, "hwmon", "hwmon*")), key=_natural):
            if _read_label(os.path.join(chip, "name")) != "ina3221":
                continue
            chips.append(chip)
            for label_path in sorted(glob.glob(os.path.join(chip, "in*_label")), key=_natural):
                match = re.match(r"in(\d+)_label$", os.path.basename(label_path))
                label = _read_label(label_path)
                if match is None or _skip_ina_label(label, int(match.group(1))):
                    continue
                channel = match.group(1)
                volts = os.path.join(chip, "in%s_input" % channel)
                amps = os.path.join(chip, "curr%s_input" % channel)
                if label not in found and os.path.exists(volts) and os.path.exists(amps):
                    found[label] = (volts, amps, channel)
    if not chips:
        return _Scan(why_none="no INA3221 hwmon chip (JetPack 5/6) under sys/bus/i2c/devices")
    rails = list(found)
    if not rails:
        return _Scan(why_none="INA3221 chip(s) %s have no labelled rails"
                     % ", ".join(_short(chip, board) for chip in chips))
    defaults, why = _input_rail_defaults(rails)

    def build(rail):
        volts, amps, channel = found[rail]
        return _MilliVoltsTimesMilliAmps(volts, amps, name="ina3221", rail=rail, boundary=_jetson_rail_boundary(rail),
                                         unit="in%s_input mV x curr%s_input mA / 1e6 = W" % (channel, channel))
    return _Scan(rails=rails, defaults=defaults, why_none=why, build=build)


def _scan_ina3221x(board):
    """JetPack 4: NVIDIA's IIO driver, sys/bus/i2c/devices/*/iio:device*/ with rail_name_N files."""
    found, devices = {}, []
    for device in board.glob("sys/bus/i2c/devices/*"):
        if "ina3221" not in (_read_label(os.path.join(device, "name")) or ""):
            continue
        for iio in sorted(glob.glob(os.path.join(device, "iio:device*")), key=_natural):
            if "ina3221x" not in (_read_label(os.path.join(iio, "name")) or ""):
                continue
            devices.append(iio)
            for name_path in sorted(glob.glob(os.path.join(iio, "rail_name_*")), key=_natural):
                match = re.match(r"rail_name_(\d+)$", os.path.basename(name_path))
                label = _read_label(name_path)
                if match is None or not label or label.upper() == "NC" or label in found:
                    continue
                found[label] = (iio, match.group(1))
    if not devices:
        return _Scan(why_none="no INA3221x IIO device (JetPack 4) under sys/bus/i2c/devices")
    rails = [rail for rail in found if _ina3221x_files(*found[rail])]
    if not rails:
        return _Scan(why_none="INA3221x device(s) %s have no readable rails"
                     % ", ".join(_short(d, board) for d in devices))
    defaults, why = _input_rail_defaults(rails)

    def build(rail):
        iio, channel = found[rail]
        files = _ina3221x_files(iio, channel)
        common = dict(name="ina3221x", rail=rail, boundary=_jetson_rail_boundary(rail))
        if len(files) == 1:
            return _ScaledPower(files[0], 1e-3, unit="in_power%s_input mW / 1e3 = W" % channel, **common)
        return _MilliVoltsTimesMilliAmps(files[0], files[1], unit="in_voltage%s_input mV x in_current%s_input mA "
                                         "/ 1e6 = W" % (channel, channel), **common)
    return _Scan(rails=rails, defaults=defaults, why_none=why, build=build)


def _ina3221x_files(iio, channel):
    """The driver's own power (mW) when present, else voltage and current."""
    power = os.path.join(iio, "in_power%s_input" % channel)
    if os.path.exists(power):
        return [power]
    pair = [os.path.join(iio, "in_voltage%s_input" % channel), os.path.join(iio, "in_current%s_input" % channel)]
    return pair if all(os.path.exists(p) for p in pair) else []


def _older_pi(model):
    """Raspberry Pi 4 and earlier (Zero, 400, CM4...): no current sensing at all."""
    if not model or "Raspberry Pi" not in model:
        return False
    generation = re.search(r"Raspberry Pi (?:Compute Module )?(\d)", model)
    return generation is None or int(generation.group(1)) < 5


def _scan_pi5_pmic(board):
    model = board.model()
    try:
        watts = parse_pmic_read_adc(_run_pmic_read_adc(board.vcgencmd))
    except PowerReadError as exc:
        if _older_pi(model):
            return _Scan(why_none="vcgencmd pmic_read_adc not available on %s: Raspberry Pi 4 and earlier have no "
                                  "current sensing (%s)" % (model, exc))
        hint = ""
        if model and "Raspberry Pi" in model and "/dev/vcio" in str(exc):
            hint = "; /dev/vcio is root:video 0660, add the agent's user to the video group"
        return _Scan(why_none="vcgencmd pmic_read_adc not available (%s)%s" % (exc, hint))
    if not watts:
        return _Scan(why_none="vcgencmd pmic_read_adc printed no rail with both a current and a voltage")
    total = "sum of %d PMIC rails" % len(watts)
    pmic_rails = sorted(watts)

    def build(rail):
        if rail == total:
            return _Pi5Pmic(board.vcgencmd, pmic_rails, name="pi5-pmic", rail=total,
                            boundary="sum of the PMIC's output rails; excludes conversion losses and 5 V loads "
                                     "(USB, HATs)",
                            unit="sum of <rail>_V V x <rail>_A A over %d rails (vcgencmd pmic_read_adc) = W"
                                 % len(pmic_rails))
        return _Pi5Pmic(board.vcgencmd, [rail], name="pi5-pmic", rail=rail,
                        boundary="one PMIC output rail (%s) only; excludes every other rail" % rail,
                        unit="%s_V V x %s_A A (vcgencmd pmic_read_adc) = W" % (rail, rail))
    return _Scan(rails=[total] + pmic_rails, defaults=[total], build=build)


def _hwmon_period(chip, channel):
    """power*_average_interval (ms) when the chip averages: reading faster repeats the value."""
    try:
        interval_ms = read_sysfs_int(os.path.join(chip, "power%s_average_interval" % channel))
    except PowerReadError:
        return DEFAULT_PERIOD_S
    return min(60.0, interval_ms / 1000.0) if interval_ms >= 10 else DEFAULT_PERIOD_S


def _hwmon_channels(chip):
    """[(label, builder kwargs)] for one chip: power files first, then mV x mA pairs."""
    channels, powered = [], set()
    power_files = glob.glob(os.path.join(chip, "power*_input")) + glob.glob(os.path.join(chip, "power*_average"))
    for path in sorted(power_files, key=_natural):
        match = re.match(r"power(\d+)_(input|average)$", os.path.basename(path))
        if match is None or match.group(1) in powered:
            continue
        channel, which = match.groups()
        if which == "average" and os.path.exists(os.path.join(chip, "power%s_input" % channel)):
            continue   # the instantaneous reading wins over the chip's average
        powered.add(channel)
        label = _read_label(os.path.join(chip, "power%s_label" % channel)) or "power%s" % channel
        period_s = _hwmon_period(chip, channel) if which == "average" else DEFAULT_PERIOD_S
        channels.append((label, dict(kind="scaled", path=path, unit="power%s_%s uW / 1e6 = W" % (channel, which),
                                     period_s=period_s)))
    for path in sorted(glob.glob(os.path.join(chip, "in*_input")), key=_natural):
        match = re.match(r"in(\d+)_input$", os.path.basename(path))
        if match is None:
            continue
        channel = match.group(1)
        amps = os.path.join(chip, "curr%s_input" % channel)
        if channel in powered or not os.path.exists(amps):
            continue
        label = (_read_label(os.path.join(chip, "in%s_label" % channel))
                 or _read_label(os.path.join(chip, "curr%s_label" % channel)) or "in%s*curr%s" % (channel, channel))
        channels.append((label, dict(kind="pair", volts=path, amps=amps,
                                     unit="in%s_input mV x curr%s_input mA / 1e6 = W" % (channel, channel),
                                     period_s=DEFAULT_PERIOD_S)))
    return channels


def _scan_hwmon(board):
    """sys/class/hwmon/hwmon*: chips with power or voltage x current; INA3221 is its own family."""
    chips = board.glob("sys/class/hwmon/hwmon*")
    found, labels, without, skipped = {}, {}, [], []
    # By chip name, then path: hwmon numbers change between boots.
    named = sorted(((_read_label(os.path.join(chip, "name")) or os.path.basename(chip), chip) for chip in chips),
                   key=lambda pair: (pair[0], _natural(pair[1])))
    for chip_name, chip in named:
        if chip_name == "ina3221":
            skipped.append(chip_name)
            continue
        channels = _hwmon_channels(chip)
        if not channels:
            without.append(chip_name)
        for label, spec in channels:
            rail = "%s/%s" % (chip_name, label)
            if rail in found:
                rail = "%s (%s)" % (rail, os.path.basename(chip))
            found[rail] = (spec, chip_name)
            labels.setdefault(label, []).append(rail)
    if not found:
        if not chips:
            why = "no hwmon chips under sys/class/hwmon"
        else:
            why = "no power or voltage x current channels in %d hwmon chip(s) (%s)" % (
                len(chips), ", ".join(without + skipped))
            if skipped:
                why += "; ina3221 is read by the ina3221 source"
        return _Scan(why_none=why)
    rails = list(found)

    def build(rail):
        spec, chip_name = found[rail]
        common = dict(name="hwmon", rail=rail, unit=spec["unit"], period_s=spec["period_s"],
                      boundary="one hwmon channel (%s); what it covers depends on where the board wires the %s "
                               "sensor; not wall power unless that sensor sits at the input" % (rail, chip_name))
        if spec["kind"] == "scaled":
            return _ScaledPower(spec["path"], 1e-6, **common)
        return _MilliVoltsTimesMilliAmps(spec["volts"], spec["amps"], **common)
    aliases = {label: names[0] for label, names in labels.items() if len(names) == 1}
    # A graphics card's own sensor is not the board's power: selectable by name only.
    defaults = [rail for rail in rails if found[rail][1] not in GPU_HWMON_CHIPS][:1]
    why = "" if defaults else "only GPU power channels (%s), not the board's; %s" % (", ".join(rails), _NAME_A_RAIL)
    return _Scan(rails=rails, defaults=defaults, why_none=why, build=build, aliases=aliases)


def _rapl_zones(board):
    """(top-level zones, subzones) as _RaplZone, plus notes on zones that cannot be used."""
    found = board.glob("sys/class/powercap/intel-rapl:*")
    if not found:
        # /sys/class/powercap holds symlinks into here; a tree copied without them still has the zones.
        base = board.path("sys/devices/virtual/powercap/intel-rapl")
        found = sorted(glob.glob(os.path.join(base, "intel-rapl:*")) + glob.glob(os.path.join(base, "intel-rapl:*",
                                                                                                 "intel-rapl:*:*")),
                       key=_natural)
    top, sub, notes, by_index = [], [], [], {}
    seen = set()
    for path in found:
        base = os.path.basename(path)
        is_top = _RAPL_TOP_ZONE.match(base)
        is_sub = _RAPL_SUBZONE.match(base)
        if base in seen or not (is_top or is_sub):
            continue   # intel-rapl-mmio:* repeats the package domain through MMIO
        seen.add(base)
        name = _read_label(os.path.join(path, "name")) or base
        try:
            range_uj = read_sysfs_int(os.path.join(path, "max_energy_range_uj"))
        except PowerReadError as exc:
            notes.append("%s (%s) skipped: %s" % (name, base, exc))
            continue
        if range_uj <= 0:
            notes.append("%s (%s) skipped: max_energy_range_uj is %d" % (name, base, range_uj))
            continue
        if is_top:
            zone = _RaplZone(path, name, range_uj)
            by_index[is_top.group(1)] = name
            top.append(zone)
        else:
            sub.append((is_sub.group(1), path, name, range_uj))
    subzones = [_RaplZone(path, "%s/%s" % (by_index[parent], name), range_uj)
                for parent, path, name, range_uj in sub if parent in by_index]
    return top, subzones, notes


def _rapl_boundary(name):
    if name == "psys":
        return ("platform (RAPL psys domain: the SoC plus what the platform's power delivery reports into it); "
                "not wall power")
    if "/" in name:
        package, domain = name.split("/", 1)
        return "RAPL %s domain of %s only; not wall power" % (domain, package)
    if name.startswith("package-"):
        return "CPU package only (RAPL package domain); not wall power"
    return "RAPL %s domain; not wall power" % name


def _scan_rapl(board):
    top, subzones, notes = _rapl_zones(board)
    zones = {}
    for zone in top + subzones:
        zones.setdefault(zone.name, zone)
    if not zones:
        why = "no RAPL powercap zones under sys/class/powercap"
        return _Scan(why_none=why + ("; " + "; ".join(notes) if notes else ""))
    packages = [zone for zone in top if zone.name.startswith("package-") and zones.get(zone.name) is zone]
    combined = "+".join(zone.name for zone in packages) if len(packages) > 1 else None
    rails = list(zones) + ([combined] if combined else [])
    defaults = [name for name in ("psys",) if name in zones]
    if combined:
        defaults.append(combined)
    elif packages:
        defaults.append(packages[0].name)

    def build(rail):
        if rail == combined:
            return _RaplSum(packages, name="rapl", rail=rail, period_s=DEFAULT_PERIOD_S,
                            boundary="CPU packages only (RAPL package domains, summed); not wall power",
                            unit="sum of energy_uj uJ / 1e6 = J, unwrapped per package (never wraps)")
        return _RaplCounter(zones[rail], name="rapl", rail=rail, boundary=_rapl_boundary(rail),
                            period_s=DEFAULT_PERIOD_S, unit="energy_uj uJ / 1e6 = J")
    why = "RAPL zones %s but no psys or package zone; %s" % (", ".join(zones), _NAME_A_RAIL)
    return _Scan(rails=rails, defaults=defaults, why_none=why, build=build)


_FAMILIES = {"ina3221": _scan_ina3221, "ina3221x": _scan_ina3221x, "pi5-pmic": _scan_pi5_pmic,
             "hwmon": _scan_hwmon, "rapl": _scan_rapl}


def _short(path, board):
    return os.path.relpath(path, board.root)


# ---- discovery -------------------------------------------------------------------------


@dataclass
class Discovery:
    source: Optional[PowerSource]
    reason: Optional[str]      # when source is None: one line saying why no power is measured
    tried: List[str]           # one short line per source family: what was found or why not


def _scan(board, family):
    try:
        return _FAMILIES[family](board)
    except Exception as exc:  # discovery must end in a reason, whatever a board's sysfs holds
        return _Scan(why_none="scan failed: %s: %s" % (type(exc).__name__, _one_line(exc)))


def _try_rail(scan, rail):
    """(source, its first reading) when the rail builds and reads once, else (None, why)."""
    try:
        source = scan.build(rail)
        value = source.read()
    except PowerReadError as exc:
        return None, "%s found but unreadable: %s" % (rail, _one_line(exc, 240))
    except Exception as exc:
        return None, "%s found but unreadable: %s: %s" % (rail, type(exc).__name__, _one_line(exc))
    return source, value


def _found_line(source, value, board):
    unit = "J" if source.kind == ENERGY else "W"
    # Files relative to the root (a fixture tree or /), a command as it was run.
    reads = source.reads if isinstance(source, _Pi5Pmic) else [_short(path, board) for path in source.reads]
    return "%s from %s, read %.6g %s" % (source.rail, ", ".join(reads), value, unit)


def _existing_rails(board, scans):
    """"family: a, b; family2: c" over every family, scanning those not scanned yet."""
    parts = []
    for family in SOURCE_NAMES:
        if family not in scans:
            scans[family] = _scan(board, family)
        if scans[family].rails:
            parts.append("%s: %s" % (family, ", ".join(scans[family].rails)))
    return "; ".join(parts) if parts else "none"


def _tried_lines(scans, lines):
    for family in SOURCE_NAMES:
        if family in lines:
            continue
        if family in scans:
            lines[family] = "%s: %s" % (family, scans[family].why_none or "rails %s" % ", ".join(scans[family].rails))
    return [lines[family] for family in SOURCE_NAMES if family in lines]


def discover(sys_root="/", vcgencmd="vcgencmd", source=None, rail=None):
    """The board's power source, or why there is none. Never raises.

    source: one registry name (SOURCE_NAMES) to try only that family; rail: that rail
    only, by its exact label ("VDD_IN", "psys", "package-0", "<chip>/<label>" for hwmon).
    """
    board = _Board(sys_root, vcgencmd)
    scans, lines = {}, {}
    if source is not None and source not in SOURCE_NAMES:
        rails = _existing_rails(board, scans)
        return Discovery(None, "unknown power source %s (known: %s); rails that exist under %s: %s"
                         % (_quoted(source), ", ".join(SOURCE_NAMES), board.root, rails),
                         _tried_lines(scans, lines))
    families = [source] if source is not None else list(SOURCE_NAMES)
    for position, family in enumerate(families):
        scan = scans[family] = _scan(board, family)
        if rail is not None:
            wanted = scan.resolve(rail)
            candidates = [wanted] if wanted else []
            if not candidates:
                lines[family] = "%s: no rail %s (%s)" % (family, _quoted(rail), "has: %s" % ", ".join(scan.rails)
                                                         if scan.rails else scan.why_none)
        else:
            candidates = list(scan.defaults)
        failures = []
        for candidate in candidates:
            found, value = _try_rail(scan, candidate)
            if found is not None:
                # A preferred rail that failed first (psys, say) stays on record.
                lines[family] = "; ".join(["%s: %s" % (family, _found_line(found, value, board))] + failures)
                for later in families[position + 1:]:
                    lines[later] = "%s: not tried (%s %s came first)" % (later, family, found.rail)
                return Discovery(found, None, _tried_lines(scans, lines))
            failures.append(value)
        if failures:
            lines[family] = "%s: %s" % (family, "; ".join(failures))
    tried = _tried_lines(scans, lines)
    where = "from %s under %s" % (source, board.root) if source is not None else "under %s" % board.root
    if rail is not None and not any(scans[f].resolve(rail) for f in families):
        if source is None:
            rails = _existing_rails(board, scans)
        else:
            rails = ", ".join(scans[source].rails) or "none (%s)" % scans[source].why_none
        return Discovery(None, "no rail %s %s; rails that exist: %s" % (_quoted(rail), where, rails), tried)
    return Discovery(None, "no power source %s: %s" % (where, "; ".join(tried)), tried)


def _quoted(value):
    return '"%s"' % _one_line(value, 80)
