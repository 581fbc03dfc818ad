"""A TCP proxy that delays every chunk of data by a fixed time, each way: an app host elsewhere.

    python bench/latency_proxy.py --upstream 127.0.0.1:5432 --delay-ms 2 [--listen 127.0.0.1:0]
                                  [--seconds 900] [--max-connections 256]

Prints `listening on HOST:PORT` once it accepts connections, then forwards each connection to
--upstream, holding what either side sends for --delay-ms before passing it on (so a round
trip costs twice that more). Delays overlap: a chunk waits its own time, not the queue's, so the
proxy adds latency without limiting throughput, and chunks keep their order. Bounded: it stops
by itself after --seconds, refuses connections beyond --max-connections, and stops on SIGTERM
or SIGINT.

Small on purpose, as it shares the machine with what it measures: asyncio protocols, one timer
per chunk, no task per chunk. asyncio's default selector (epoll) sleeps in whole milliseconds,
which would turn 0.25 ms into 1 ms; select() takes microseconds, so the loop runs on it (a few
hundred connections at most: its descriptor limit is no concern).
"""

import argparse
import asyncio
import selectors
import signal
import sys


class Half(asyncio.Protocol):
    """One side of a proxied connection: what it receives goes out of the other side's
    transport (`peer`), `delay` later; when it closes, so does the other side, as late."""

    def __init__(self, proxy, client=None):
        self.proxy = proxy
        self.client = client  # the half it was opened for, on the upstream side
        self.loop = asyncio.get_running_loop()
        self.transport = self.peer = None
        self.last_due = 0.0
        self.waiting = []  # due before the other side was connected

    def connection_made(self, transport):
        self.transport = transport
        if self.client is not None:  # upstream: pair the two halves
            self.peer, self.client.peer = self.client.transport, transport
            for data in self.client.waiting:
                self.client.deliver(data)
        elif len(self.proxy.open) >= self.proxy.max_connections:  # full: refuse, never queue
            transport.close()
        else:
            self.proxy.open.add(self)
            self.connecting = asyncio.ensure_future(self.proxy.connect_upstream(self))

    def data_received(self, data):
        self.later(data)

    def connection_lost(self, exc):
        self.proxy.open.discard(self)
        self.later(None)

    def later(self, data):
        # Strictly later than the chunk before: timers due at the same instant may run in any
        # order, and the bytes of a stream must not.
        self.last_due = max(self.loop.time() + self.proxy.delay, self.last_due + 1e-6)
        self.loop.call_at(self.last_due, self.deliver, data)

    def deliver(self, data):
        if self.peer is None:
            self.waiting.append(data)
        elif data is None:
            self.peer.close()  # after what it still has to write
        elif not self.peer.is_closing():
            self.peer.write(data)


class Proxy:
    def __init__(self, upstream, delay, max_connections):
        self.upstream, self.delay, self.max_connections = upstream, delay, max_connections
        self.open = set()

    async def connect_upstream(self, client):
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: Half(self, client), *self.upstream)
        except OSError:
            client.transport.close()

    def close_all(self):
        for half in list(self.open):
            half.transport.close()
            if half.peer is not None:
                half.peer.close()


def address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve(args):
    proxy = Proxy(address(args.upstream), args.delay_ms / 1000, args.max_connections)
    host, port = address(args.listen)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Half(proxy), host, port)
    bound = server.sockets[0].getsockname()
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.seconds)
    except TimeoutError:
        print(f"latency_proxy: stopping after {args.seconds:g} s", file=sys.stderr)
    server.close()
    proxy.close_all()
    await server.wait_closed()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free)")
    parser.add_argument("--delay-ms", type=float, required=True, help="added each way")
    parser.add_argument("--seconds", type=float, default=900, help="stop after this long")
    parser.add_argument("--max-connections", type=int, default=256)
    args = parser.parse_args(argv)
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(serve(args))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
