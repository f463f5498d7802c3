"""A real SMTP server (aiosmtpd) on a free local port, collecting what it accepts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


@dataclass
class SmtpServer:
    """A real aiosmtpd server on 127.0.0.1:``port`` (not listening until :meth:`start`).

    ``messages`` holds every accepted envelope; recipients in ``refuse``
    get ``550 no such user`` at RCPT TO.
    """

    port: int
    messages: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_RCPT(self, server, session, envelope: Envelope, address: str, rcpt_options) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:
        with self._lock:
            self.messages.append(envelope)
        return "250 Message accepted for delivery"
