"""The view process: ``python -m rtst.view --telemetry PATH --info JSON`` (started by ``rtst live --view``).

It maps the engine's shared telemetry block, shows :class:`~rtst.view.window.EffectView`, and
writes one JSON line to stdout per control change (``{"ready": true}`` first, once the window is
up). It exits when its stdin closes (the engine stopped or died) or when the window is closed.
Errors are one line on stderr with exit status 2 (bad arguments) or 1 (no display, Qt failure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rtst.view", description="rtst live view (started by rtst live --view)")
    p.add_argument("--telemetry", required=True, metavar="PATH", help="the engine's shared telemetry block")
    p.add_argument("--info", default="{}", metavar="JSON", help="models, phases, title (from the engine)")
    p.add_argument("--fps", type=float, default=30.0, help="redraws per second (default 30)")
    p.add_argument("--axis", default="log", choices=("linear", "log"), help="frequency axis shown first (default log)")
    p.add_argument("--size", default="1280x720", metavar="WxH", help="window size in pixels (default 1280x720)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="move a control once the window is up, as the performer would (repeatable)")
    p.add_argument("--screenshot", default=None, metavar="PATH.png", help="save a picture of the window")
    p.add_argument("--screenshot-after", type=float, default=3.0, metavar="SECONDS",
                   help="when to take it, after the window is up (default 3)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from rtst.errors import RtstError
    from rtst.telemetry import Telemetry

    try:
        if not 1.0 <= args.fps <= 120.0:
            raise RtstError(f"--fps={args.fps} must be from 1 to 120")
        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise RtstError(f"--size={args.size!r} must be WIDTHxHEIGHT, e.g. 1280x720") from None
        try:
            info = json.loads(args.info)
        except ValueError as exc:
            raise RtstError(f"--info is not JSON: {exc}") from None
        settings = []
        for item in args.set:
            name, sep, value = item.partition("=")
            if not sep:
                raise RtstError(f"--set {item!r} must be NAME=VALUE")
            settings.append((name.strip(), value.strip()))
        telemetry = Telemetry.attach(args.telemetry)
    except RtstError as exc:
        print(f"rtst view: {exc}", file=sys.stderr)
        return 2
    try:
        from pyqtgraph.Qt import QtCore, QtWidgets

        from rtst.view.window import EffectView
    except ImportError as exc:
        print(f"rtst view: needs pyqtgraph and a Qt binding (bash tools/setup.sh view): {exc}", file=sys.stderr)
        return 1

    try:  # drawing is the least urgent work on the machine: let the audio (and everything else) go first
        os.nice(10)
    except OSError:
        pass
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["rtst-view"])
    # Qt converts and scales images on a thread pool as wide as the machine; one thread is plenty
    # for two spectrograms and leaves the other cores to the audio
    QtCore.QThreadPool.globalInstance().setMaxThreadCount(1)
    out_lock = threading.Lock()

    def send(changes: dict) -> None:
        with out_lock:
            try:
                sys.stdout.write(json.dumps(changes) + "\n")
                sys.stdout.flush()
            except (OSError, ValueError):  # the engine has gone: nothing left to tell
                app.quit()

    view = EffectView(telemetry, info, emit=send, fps=args.fps, axis=args.axis)
    view.resize(width, height)
    view.show()

    # stdin closing is the engine's way of saying "stop"; a blocking read belongs on its own thread
    stdin_closed = threading.Event()

    def watch_stdin() -> None:
        try:
            while sys.stdin.readline():
                pass
        except (OSError, ValueError):
            pass
        stdin_closed.set()

    threading.Thread(target=watch_stdin, name="rtst-view-stdin", daemon=True).start()
    poll = QtCore.QTimer()
    poll.timeout.connect(lambda: app.quit() if stdin_closed.is_set() else None)
    poll.start(100)

    shown_at = time.monotonic()
    status = {"screenshot": None}
    if args.screenshot is not None:
        def shoot() -> None:
            view.tick()
            if not view.grab().save(args.screenshot):
                print(f"rtst view: cannot save the screenshot to {args.screenshot!r}", file=sys.stderr)
                status["screenshot"] = 1
            else:
                status["screenshot"] = 0
                print(f"rtst view: screenshot {args.screenshot} after {time.monotonic() - shown_at:.1f} s",
                      file=sys.stderr)

        QtCore.QTimer.singleShot(int(1000 * max(0.0, args.screenshot_after)), shoot)
    def ready() -> None:
        send({"ready": True})
        for name, value in settings:
            try:
                view.set_control(name, value)
            except RtstError as exc:
                print(f"rtst view: --set: {exc}", file=sys.stderr)

    QtCore.QTimer.singleShot(0, ready)
    app.exec()
    view.timer.stop()
    telemetry.close()
    return 1 if status["screenshot"] == 1 else 0


if __name__ == "__main__":
    sys.exit(main())
