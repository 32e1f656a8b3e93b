"""Django's PostgreSQL backend, with a connection check that costs no round trip.

``CONN_HEALTH_CHECKS`` checks a reused connection at the start of every request; Django's
check is a ``SELECT 1``, which cost about a seventh of an authenticated read (bench/RESULTS.md,
"Request path"). An idle connection the server has closed (``pg_terminate_backend``, a restart,
``idle_session_timeout``) always has something to read: the server's FATAL message, then the
end of the stream. So when the socket has nothing to read the connection is kept as it is, and
only when it has something is Django's ``SELECT 1`` asked, exactly as before. A peer that
vanished without a word (a cable pulled) is caught by neither check in time; TCP keepalives and
the 503 path answer that.
"""
import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper


class DatabaseWrapper(PostgresDatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        try:
            poller = select.poll()
            poller.register(self.connection.fileno(), select.POLLIN | select.POLLPRI)
            if not poller.poll(0):
                return True
        except (OSError, ValueError):
            return False
        return super().is_usable()
