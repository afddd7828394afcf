"""A TCP proxy between a daemon and PostgreSQL that can cut a connection
right after the server answered a chosen statement: the statement ran and
committed, and the daemon never hears of it. This is what a PgBouncer
restart or a network reset between the daemon and the database does.

    proxy = CuttingProxy(pg.port).start()
    proxy.arm(b"INSERT INTO orders")   # the next statement whose text has this
    ...                                # is answered by the server, then cut
    proxy.cuts                         # how many connections were cut so far
    proxy.stop()

Only 127.0.0.1; every thread is a daemon thread and every wait is bounded.
"""

import socket
import threading

from helpers import free_port

READY_FOR_QUERY = b"Z\x00\x00\x00\x05"  # the server's "done" after a Sync


def _error_response(fields):
    body = b"".join(k + v.encode() + b"\x00" for k, v in fields) + b"\x00"
    return b"E" + (len(body) + 4).to_bytes(4, "big") + body


FATAL_57P01 = _error_response([(b"S", "FATAL"), (b"V", "FATAL"), (b"C", "57P01"),
                               (b"M", "terminating connection due to administrator command")])


class CuttingProxy:
    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_port()
        self._marker = None
        self._late_fatal = False
        self._lock = threading.Lock()
        self.cuts = 0
        self._listener = None
        self._socks = []
        self._stopped = threading.Event()

    def url(self, dbname):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def arm(self, marker, late_fatal=False):
        """The next statement whose text has `marker` is cut after the
        server's answer; with late_fatal, the daemon first gets the answer's
        rows and then, instead of the end of the cycle, a FATAL 57P01 (what
        a fast shutdown sends a backend between its statement and its
        commit)."""
        with self._lock:
            self._marker = marker
            self._late_fatal = late_fatal

    def start(self):
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self._stopped.set()
        self._listener.close()
        for s in list(self._socks):
            _close(s)

    def _accept(self):
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            server.settimeout(None)
            self._socks += [client, server]
            state = {"cut": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client, server, state):
        """daemon -> PostgreSQL; marks the connection when the armed text passes."""
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self._lock:
                if self._marker is not None and self._marker in data:
                    state["cut"] = True
                    state["late_fatal"] = self._late_fatal
                    self._marker = None
            try:
                server.sendall(data)
            except OSError:
                break
        _close(server)
        _close(client)

    def _down(self, server, client, state):
        """PostgreSQL -> daemon; once marked, swallows the answer up to its
        ReadyForQuery (so the statement has committed) and cuts both sides."""
        held = b""
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if state["cut"]:
                held += data
                if READY_FOR_QUERY in held:
                    with self._lock:
                        self.cuts += 1
                    if state.get("late_fatal"):
                        try:
                            client.sendall(held[:held.index(READY_FOR_QUERY)] + FATAL_57P01)
                        except OSError:
                            pass
                    break
                continue
            try:
                client.sendall(data)
            except OSError:
                break
        _close(client)
        _close(server)


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
