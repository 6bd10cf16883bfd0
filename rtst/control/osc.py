"""OSC control (python-osc): UDP messages to the Rig, on a thread of their own.

Addresses (one argument each)::

    /rtst/mix     float 0..1          /rtst/model   string name or int index
    /rtst/bypass  int/bool/float      /rtst/phase   string name or int index
    /rtst/morph   float 0..1          /rtst/state   (no argument) -> replies /rtst/state JSON

The server listens on 127.0.0.1 unless told otherwise: OSC has no authentication, so exposing it
to a network is the user's explicit choice. A bad message is reported on stderr (from the OSC
thread, never the audio thread) and counted; it changes nothing.
"""

from __future__ import annotations

import json
import sys
import threading

from rtst.control.rig import PARAMETERS
from rtst.errors import DeviceError, ParameterError

__all__ = ["OscControl", "parse_address", "DEFAULT_OSC_PORT"]

DEFAULT_OSC_PORT = 9000
PREFIX = "/rtst/"


def parse_address(text: str) -> tuple[str, int]:
    """``"PORT"`` or ``"HOST:PORT"`` -> (host, port); the host defaults to 127.0.0.1."""
    host, _, port = str(text).rpartition(":")
    host = host or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise ParameterError(f"--osc={text!r} must be PORT or HOST:PORT with a port from 0 to 65535")
    return host, number


#: Receive buffer asked for the OSC socket: a burst of 10 000 messages (~40 bytes each, plus the
#: kernel's own overhead per datagram) waits here instead of being dropped while the server parses.
RECEIVE_BUFFER = 8 << 20


def _widen_receive_buffer(sock) -> None:
    """As large a receive buffer as the system grants (SO_RCVBUFFORCE passes the sysctl limit when
    the process may; otherwise SO_RCVBUF up to ``net.core.rmem_max``)."""
    import socket

    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            return
        except OSError:
            continue


class OscControl:
    """An OSC UDP server driving a :class:`~rtst.control.rig.Rig`.

    Parameters
    ----------
    rig : Rig
    host : str
    port : int
        0 picks a free port (see :attr:`address`).
    log : file, optional
        Where bad messages are reported (stderr by default; None to stay quiet).
    """

    def __init__(self, rig, host: str = "127.0.0.1", port: int = DEFAULT_OSC_PORT, *, log=sys.stderr):
        try:
            from pythonosc.dispatcher import Dispatcher
            from pythonosc.osc_server import BlockingOSCUDPServer
        except ImportError:
            raise DeviceError("OSC control needs python-osc (the control extra): bash tools/setup.sh control") from None
        self.rig = rig
        self.log = log
        self.received = 0
        self.errors = 0
        dispatcher = Dispatcher()
        for name in PARAMETERS:
            dispatcher.map(PREFIX + name, self._handle, name, needs_reply_address=True)
        dispatcher.map(PREFIX + "state", self._state, needs_reply_address=True)
        dispatcher.set_default_handler(self._unknown, needs_reply_address=True)
        try:
            self.server = BlockingOSCUDPServer((host, port), dispatcher)
        except OSError as exc:
            raise DeviceError(f"cannot listen for OSC on {host}:{port}: {exc.strerror or exc}") from None
        _widen_receive_buffer(self.server.socket)
        self.address = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="rtst-osc", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join()
        self.server.server_close()

    def _report(self, text: str) -> None:
        self.errors += 1
        if self.log is not None:
            print(f"rtst osc: {text}", file=self.log, flush=True)

    def _handle(self, client, address, fixed, *args):
        self.received += 1
        name = fixed[0]
        if len(args) != 1:
            self._report(f"{address} takes one argument ({PARAMETERS[name]}), got {len(args)}")
            return
        try:
            self.rig.set(name, args[0])
        except ParameterError as exc:
            self._report(f"{address}: {exc}")

    def _state(self, client, address, *args):
        from pythonosc.udp_client import SimpleUDPClient

        self.received += 1
        SimpleUDPClient(*client).send_message(PREFIX + "state", json.dumps(self.rig.state()))

    def _unknown(self, client, address, *args):
        self.received += 1
        self._report(f"unknown address {address!r} (known: {', '.join(PREFIX + n for n in PARAMETERS)}, {PREFIX}state)")
