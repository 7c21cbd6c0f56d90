"""A small client of the Chrome DevTools Protocol over --remote-debugging-pipe (no websocket, no
driver): headless Chromium opens a page, and the tests read its DOM, move the mouse, press keys,
collect console errors and take screenshots.

Messages are JSON objects separated by a NUL byte; Chromium reads commands from fd 3 and writes
replies and events to fd 4.
"""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--hide-scrollbars", "--force-color-profile=srgb",
    "--remote-debugging-pipe",
]


def find_chromium():
    """The Chromium executable on PATH, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page (a tab) attached in flat mode."""

    def __init__(self, executable, timeout=30.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="qkv-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_fds():
            # Move both ends out of the way first, so that dup2 onto 3 and 4 cannot clobber them.
            a, b = 100, 101
            os.dup2(to_browser_r, a)
            os.dup2(from_browser_w, b)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events = []
        self.session = None
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        # The page behaves as the focused window (focus(), key presses), whatever else Chromium has open.
        self.send("Page.bringToFront")
        self.send("Emulation.setFocusEmulationEnabled", {"enabled": True})

    # ---- protocol ----
    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise CdpError("timed out waiting for Chromium")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise CdpError(f"Chromium closed the pipe (exit status {self.proc.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=True):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_for_event(self, method, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, e in enumerate(self._events):
                if e["method"] == method:
                    return self._events.pop(i)
            event = self._read_message(deadline)
            self._events.append(event)

    # ---- page ----
    def open(self, path, width=1280, height=900):
        self.set_viewport(width, height)
        self._events.clear()
        self.send("Page.navigate", {"url": pathlib.Path(path).resolve().as_uri()})
        self.wait_for_event("Page.loadEventFired")
        deadline = time.monotonic() + self.timeout
        while self.eval("document.body && document.body.dataset.ready") != "1":
            if self.console_errors() or time.monotonic() > deadline:
                raise CdpError(f"the page did not get ready; console errors: {self.console_errors()}")
            time.sleep(0.05)

    def set_viewport(self, width, height):
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def eval(self, expression):
        """The value of a JavaScript expression (JSON-serialisable); a thrown error raises CdpError."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CdpError(f"{expression!r} threw: {r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    def center(self, selector):
        """Scrolls the element into view and returns the centre of its box in viewport pixels."""
        box = self.eval(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (!e) return null;
            e.scrollIntoView({{block: "nearest", inline: "nearest"}});
            const r = e.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2];
        }})()""")
        if box is None:
            raise CdpError(f"no element matches {selector!r}")
        return box

    def hover(self, selector):
        """A real mouse move onto the element (fires mouseover/mouseenter/mousemove)."""
        x, y = self.center(selector)
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def click(self, selector):
        x, y = self.center(selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    KEYS = {"ArrowRight": 39, "ArrowLeft": 37, "ArrowUp": 38, "ArrowDown": 40, "End": 35, "Home": 36,
            "Tab": 9, "Enter": 13}

    def press(self, key, times=1):
        """Real key presses sent to the focused element."""
        code = self.KEYS[key]
        for _ in range(times):
            for kind in ("rawKeyDown", "keyUp"):
                self.send("Input.dispatchKeyEvent",
                          {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code})

    def focus(self, selector):
        """Keyboard focus on the element, as Tab would give it. The mouse first leaves the page, so
        that the scroll which focus may cause does not hover whatever then lies under it."""
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 0, "y": 0})
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")

    def console_errors(self):
        """Uncaught exceptions, console.error/assert calls, error log entries (CSP, failed loads) and
        the errors the page caught itself (window.qkvErrors)."""
        out = []
        for e in self._events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(d.get("exception", {}).get("description") or d.get("text"))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        try:
            r = self.send("Runtime.evaluate", {"expression": "JSON.stringify(window.qkvErrors || [])",
                                               "returnByValue": True})
            out += json.loads(r["result"].get("value") or "[]")
        except CdpError:
            pass
        return out

    def screenshot(self, path, width, height):
        """A PNG of the viewport (width × height) where the page is scrolled to."""
        self.set_viewport(width, height)
        png = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
        pathlib.Path(path).write_bytes(png)

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except CdpError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)
