"""A TCP proxy in front of a real server that can lose one reply: the server did the work,
the client never hears of it (a connection that breaks after the request got through).
"""

from __future__ import annotations

import socket
import socketserver
import threading


class ReplyDroppingProxy:
    """Relays 127.0.0.1:<port> to ``upstream``; after `drop_next_reply` the next answer the
    upstream sends is thrown away and that client connection is closed."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._drop = threading.Event()
        self.dropped = threading.Event()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._relay(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def drop_next_reply(self) -> None:
        """Arm: the next bytes the upstream sends back are lost and the client is cut off."""
        self.dropped.clear()
        self._drop.set()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        while True:
            data = upstream.recv(65536)
            if not data:
                break
            if self._drop.is_set():  # the server answered: it has done the work; lose the answer
                self._drop.clear()
                self.dropped.set()
                break
            client.sendall(data)
        for sock in (client, upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        """Stop accepting connections."""
        self._server.shutdown()
        self._server.server_close()
