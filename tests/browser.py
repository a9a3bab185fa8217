"""A real headless Chromium, driven over the DevTools protocol on a pipe (no port).

Used to open a report the way a person would and record what the page did: every
request it made, every console message and exception, and a screenshot. Chromium reads
protocol messages on fd 3 and writes them on fd 4, each a JSON text ending in NUL.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CANDIDATES = ("chromium", "chromium-headless-shell", "chromium-browser")


def find_chromium():
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class PageRecord:
    def __init__(self):
        self.requests = []      # URLs the page asked for
        self.console = []       # (level, text) from console calls and the browser's log
        self.exceptions = []    # uncaught JavaScript exceptions
        self.failed = []        # (url, error) of requests that failed
        self.screenshot = b""
        self.evaluated = {}


class Chromium:
    def __init__(self, binary, width=1200, height=2400, timeout_s=60.0):
        self.binary, self.width, self.height, self.timeout_s = binary, width, height, timeout_s
        self.profile = tempfile.mkdtemp(prefix="es-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser's ends, moved above fd 10 so the shell below can place them at 3
        # and 4 without one overwriting the other (bash: dash takes single-digit fds only).
        ends = []
        for fd in (to_browser_r, from_browser_w):
            ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD, 10))
            os.close(fd)
        reads, writes = ends
        # --disable-dev-shm-usage: containers often give /dev/shm 64 MB, too little for a renderer.
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile, "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--mute-audio", "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", 'exec "$0" "$@" 3<&%d 4>&%d %d<&- %d>&-' % (reads, writes, reads, writes), binary] + args,
            pass_fds=(reads, writes), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(reads)
        os.close(writes)
        self._buffer = b""
        self._next_id = 0
        self._events = []

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe: %s" % self.process.stderr.read()[-2000:])
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None):
        """Send a command and wait for its result; events read meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError("%s failed: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, method, session, timeout_s=None):
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            for index, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self._events.pop(index)
            self._events.append(self._read_message(deadline))

    def open(self, url, expressions=(), settle_s=1.0):
        """Load ``url`` in a fresh tab; return a PageRecord. ``expressions`` are evaluated
        in the loaded page (name -> JavaScript) and their values kept."""
        record = PageRecord()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.send(domain + ".enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False}, session)
        self._events = [e for e in self._events if e.get("sessionId") != session]
        self.send("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session)
        time.sleep(settle_s)
        for name, expression in dict(expressions).items():
            result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
            record.evaluated[name] = result.get("result", {}).get("value")
        shot = self.send("Page.captureScreenshot", {"format": "png"}, session)
        record.screenshot = base64.b64decode(shot["data"])
        for event in [e for e in self._events if e.get("sessionId") == session]:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                record.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                record.failed.append((params.get("requestId"), params.get("errorText")))
            elif method == "Runtime.consoleAPICalled":
                record.console.append((params.get("type"), " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", []))))
            elif method == "Runtime.exceptionThrown":
                record.exceptions.append(params.get("exceptionDetails", {}).get("text"))
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                record.console.append((entry.get("level"), entry.get("text")))
        self.send("Target.closeTarget", {"targetId": target})
        return record
