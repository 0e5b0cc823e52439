"""The console adapter: a team chat in the terminal.

You type as one person at a time (``/as bob`` to switch); the bot's cards
and replies are printed with their thread. Piped standard input works as a
script, with ``/wait TEXT`` to pause until the bot has said something.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TextIO

from bot.chat import Destination, Inbound, Message

PLATFORM = "console"
CHAT_ID = "team"
DEFAULT_WAIT_SECONDS = 60.0
MAX_WAIT_SECONDS = 3600.0

Handler = Callable[[Inbound], Awaitable[None]]
Extra = Callable[[str], Awaitable[str]]


def render(message: Message) -> list[str]:
    lines = [message.title] if message.title else []
    lines += [f"  {label}: {value}" for label, value in message.fields]
    if message.text:
        lines += message.text.splitlines()
    if message.buttons:
        labels = "  ".join(f"[{button.label}]" for button in message.buttons)
        lines.append(f"  {labels}")
    return lines


class ConsoleAdapter:
    """Prints what the bot sends; every message gets a short ref like ``m3``."""

    platform = PLATFORM

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.counter = itertools.count(1)
        self.transcript: list[str] = []
        self.said = asyncio.Condition()

    async def _show(self, head: str, message: Message, thread: bool = False) -> None:
        arrow = "    ↳ " if thread else ""
        lines = render(message) or [""]
        pad = " " * (len(arrow) + len(head) + 1)
        text = "\n".join(
            [f"{arrow}{head} {lines[0]}"] + [pad + line for line in lines[1:]]
        )
        print(text, file=self.out, flush=True)
        async with self.said:
            self.transcript.append(text)
            self.said.notify_all()

    async def post(self, where: Destination, message: Message) -> str:
        ref = f"m{next(self.counter)}"
        await self._show(f"paybot [{ref}]:", message, thread=bool(where.thread_ref))
        return ref

    async def edit(
        self, where: Destination, message_ref: str, message: Message
    ) -> None:
        await self._show(f"paybot [{message_ref} edited]:", message)

    async def ephemeral(self, where: Destination, message: Message) -> None:
        await self._show(f"paybot (only {where.recipient} sees):", message)

    async def direct(self, where: Destination, message: Message) -> str:
        ref = f"m{next(self.counter)}"
        await self._show(f"paybot [{ref}] (private to {where.recipient}):", message)
        return ref

    async def delete(self, where: Destination, message_ref: str) -> None:
        print(f"(message {message_ref} deleted by paybot)", file=self.out, flush=True)

    def start_link(self, payload: str) -> str | None:
        return None

    async def wait_for(self, text: str, seconds: float) -> bool:
        """Wait until the bot has printed ``text``; False on timeout."""
        async with self.said:
            try:
                await asyncio.wait_for(
                    self.said.wait_for(
                        lambda: any(text in line for line in self.transcript)
                    ),
                    seconds,
                )
            except TimeoutError:
                return False
        return True


class ConsoleChat:
    """Reads lines, speaks them as the current person, handles ``/`` words."""

    def __init__(
        self,
        adapter: ConsoleAdapter,
        handle: Handler,
        *,
        speaker: str = "alice",
        extras: Mapping[str, Extra] | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.adapter = adapter
        self.handle = handle
        self.speaker = speaker
        self.extras = dict(extras or {})
        self.settle = settle
        self.failed = False

    async def say(self, line: str, *, echo: bool = True) -> bool:
        """Process one typed line; False when the chat should end."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if echo:
            self._say(f"{self.speaker}> {line}")
        word, _, rest = line.partition(" ")
        if word in ("/quit", "/exit"):
            return False
        if word == "/as":
            self._switch(rest)
        elif word == "/wait":
            await self._wait(rest)
        elif word in self.extras:
            self._say(await self.extras[word](rest.strip()))
        else:
            await self.handle(self._inbound(line))
        if self.settle:
            await self.settle()
        return True

    def _say(self, text: str) -> None:
        print(text, file=self.adapter.out, flush=True)

    def _switch(self, name: str) -> None:
        name = name.strip()
        if not name.isidentifier():
            self._say("Usage: /as NAME, e.g. /as bob")
            return
        self.speaker = name
        self._say(f"(you are now {name})")

    async def _wait(self, rest: str) -> None:
        """``/wait [SECONDS] TEXT``: pause until the bot has said TEXT."""
        first, _, remainder = rest.strip().partition(" ")
        seconds = DEFAULT_WAIT_SECONDS
        if first.replace(".", "", 1).isdigit() and remainder:
            seconds, rest = min(float(first), MAX_WAIT_SECONDS), remainder
        text = rest.strip()
        if not text:
            self._say("Usage: /wait [SECONDS] TEXT, e.g. /wait 30 Wallet funded")
            return
        if not await self.adapter.wait_for(text, seconds):
            self.failed = True
            self._say(f"(gave up waiting for {text!r})")

    def _inbound(self, line: str) -> Inbound:
        return Inbound(
            platform=PLATFORM,
            chat_id=CHAT_ID,
            user_id=self.speaker,
            user_name=self.speaker,
            dedupe_key=f"console:{uuid.uuid4().hex}",
            text=line,
            message_ref=None,
        )

    async def run(self, lines: TextIO, prompt: bool) -> None:
        """Read until end of input; at a prompt the typed line is not echoed."""
        queue = _read_lines(lines)
        while True:
            if prompt:
                print(f"{self.speaker}> ", end="", file=self.adapter.out, flush=True)
            line = await queue.get()
            if line is None or not await self.say(line, echo=not prompt):
                return


def _read_lines(source: TextIO) -> asyncio.Queue[str | None]:
    """Lines from ``source``, read by a daemon thread; None at the end.

    A daemon thread, unlike the default executor, does not keep Ctrl-C
    waiting for one more line of input.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def hand_over(line: str | None) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        except RuntimeError:  # the chat has ended
            return False
        return True

    def pump() -> None:
        for line in iter(source.readline, ""):
            if not hand_over(line):
                return
        hand_over(None)

    threading.Thread(target=pump, daemon=True, name="console-input").start()
    return queue
