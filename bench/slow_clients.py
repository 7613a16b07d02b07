"""Holds slow clients open against a server until killed: N trickling request heads
(a byte every few seconds) and M stalled uploads (a declared 9 MiB body of which 1 MiB
is sent, then nothing). A connection the server cuts is opened again, so the load
stays. Prints how many were cut and how many uploads were refused (503) now and then.
    slow_clients.py PORT TOKEN [TRICKLERS] [STALLED]"""
import selectors
import socket
import sys
import time

port, token = int(sys.argv[1]), sys.argv[2]
n_trickle = int(sys.argv[3]) if len(sys.argv) > 3 else 500
n_stall = int(sys.argv[4]) if len(sys.argv) > 4 else 200
UPLOAD = 9 * 1024 * 1024
sel = selectors.DefaultSelector()
stats = {"cut": 0, "refused": 0}


def open_one(kind):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    if kind == "stall":
        head = (b"POST /api/drawings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + token.encode() + b"\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                + b"Content-Length: %d\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; "
                  b"filename=\"a.png\"\r\n\r\n" % UPLOAD)
        try:
            s.sendall(head + b"\0" * (1024 * 1024))
        except OSError:  # the socket's buffer is full, or the server answered 503 and closed
            pass
    else:
        try:
            s.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            pass
    sel.register(s, selectors.EVENT_READ, kind)


for _ in range(n_trickle):
    open_one("trickle")
for _ in range(n_stall):
    open_one("stall")
last = time.monotonic()
while True:
    for key, _ in sel.select(timeout=1.0):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if b" 503 " in data[:16]:
            stats["refused"] += 1
        sel.unregister(s)
        s.close()
        stats["cut"] += 1
        open_one(key.data)
    if time.monotonic() - last > 3:
        last = time.monotonic()
        for key in list(sel.get_map().values()):
            if key.data == "trickle":
                try:
                    key.fileobj.send(b"X")
                except OSError:
                    pass
        print(f"slow_clients: {stats}", flush=True)
