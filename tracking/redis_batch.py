"""A request's Redis writes sent as one packed round trip, without redis-py's pipeline machinery.

redis-py's ``Pipeline`` spends about 20 µs of Python per queued command (option checks,
response callbacks, observability hooks) and packs each command on its own; a page queues
five to eight. ``RedisBatch`` has the same command methods (redis-py's ``CoreCommands``
build the arguments), keeps each command as its argument tuple, and ``execute`` packs them
all in one call, sends them once and reads the raw replies. No reply is parsed: the writes
it carries are fire-and-forget, and an error reply is raised once every reply is read. A
dropped connection is retried by the connection's own retry policy, as a pipeline is.
"""

from __future__ import annotations

from typing import Any

from redis.commands import CoreCommands
from redis.exceptions import ResponseError


class RedisBatch(CoreCommands):
    """Commands for one round trip on ``client``'s connection pool; ``execute`` sends them."""

    def __init__(self, client: Any) -> None:
        self._pool = client.connection_pool
        self._event_dispatcher = client._event_dispatcher  # the commands' protocol asks for it; none we queue use it
        self.commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **options: Any) -> RedisBatch:
        self.commands.append(args)
        return self

    def __len__(self) -> int:
        return len(self.commands)

    def execute(self) -> None:
        if not self.commands:
            return
        connection = self._pool.get_connection()
        try:
            # A dropped connection is reconnected and the batch sent again, as redis-py retries a pipeline.
            error = connection.retry.call_with_retry(
                lambda: self._send(connection), lambda failure: connection.disconnect()
            )
        except BaseException:
            connection.disconnect()  # replies may be left unread: the connection is not reused as it is
            raise
        finally:
            self._pool.release(connection)
        self.commands = []
        if error is not None:
            raise error

    def _send(self, connection: Any) -> ResponseError | None:
        """Send every command, read every reply; the first error reply, if any (the ones after it still ran)."""
        connection.send_packed_command(connection.pack_commands(self.commands))
        error: ResponseError | None = None
        for _ in self.commands:
            try:
                connection.read_response()
            except ResponseError as exc:  # the reply is read whole: the ones after it are still readable
                error = error or exc
        return error
