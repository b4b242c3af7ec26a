"""Reading a request's body ahead of the app, and handing it to the app again."""

from __future__ import annotations

from starlette.types import Message, Receive


async def read_body(receive: Receive, cap: int) -> tuple[list[Message], bool]:
    """The request's messages up to its last body part (or the client's disconnect), and
    whether the body went over `cap` bytes (then the messages stop at the part that did)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if size > cap:
            return messages, True
        if not message.get("more_body", False):
            return messages, False


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out `messages` again, then the client's own."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
