#!/usr/bin/env python3
"""Ask agentd for approval of a tool call from Python, with the standard library only.

This one file shows the whole protocol; for programs, the package in clients/python
(`pip install ./clients/python`) adds edited arguments, rate-limit waits and SDK adapters.

agentd speaks length-prefixed frames (4-byte big-endian length, then the payload) on a Unix
socket. A hello that is a JSON object makes the whole connection JSON; messages use serde's
external tagging: {"Submit": {...}} out, {"Queued": {...}} / {"Outcome": {...}} back.

Usage: agentd_client.py TOOL [ARGS_JSON] [--summary TEXT] [--timeout-ms N] [--name NAME]
Exit codes (as `ash request`): 0 approved, 1 denied, 2 usage, 3 expired, 4 agentd unreachable
or any other error.
"""

import argparse
import json
import os
import socket
import struct
import sys

PROTOCOL_VERSION = 4
MAX_FRAME = 1 << 20


def default_socket():
    # As agentd's own default: $XDG_RUNTIME_DIR/agentd/agentd.sock, else /tmp/agentd-$UID.
    if os.environ.get("AGENTD_SOCKET"):
        return os.environ["AGENTD_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "agentd", "agentd.sock")
    return "/tmp/agentd-%d/agentd.sock" % os.getuid()


class Connection:
    def __init__(self, path, name, parent=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.send({"version": PROTOCOL_VERSION, "role": "Agent", "name": name, "parent": parent})
        welcome = self.recv()
        if "Welcome" not in welcome:
            raise RuntimeError(error_text(welcome))

    def send(self, msg):
        payload = json.dumps(msg).encode()
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def _exactly(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("agentd closed the connection")
            buf += chunk
        return buf

    def recv(self):
        (length,) = struct.unpack(">I", self._exactly(4))
        if length > MAX_FRAME:
            raise ConnectionError("agentd sent a frame of %d bytes" % length)
        return json.loads(self._exactly(length))

    def request(self, tool, args, summary=None, timeout_ms=None, session=None):
        """Blocks until the request is decided; returns the Outcome's decision dict."""
        self.send({"Submit": {
            "tool": tool,
            "args_json": json.dumps(args),
            "session": session,
            "summary": summary,
            "timeout_ms": timeout_ms,
            "risk_hint": None,
        }})
        while True:
            msg = self.recv()
            if "Queued" in msg:
                q = msg["Queued"]
                print("queued %s (%s risk), deadline %s" % (q["id"], q["risk"], q["expires_at"]),
                      file=sys.stderr, flush=True)
            elif "Outcome" in msg:
                return msg["Outcome"]["decision"]
            else:
                raise RuntimeError(error_text(msg))


def error_text(msg):
    if isinstance(msg, dict) and "Error" in msg:
        return "agentd refused: %s" % msg["Error"]["message"]
    return "unexpected answer from agentd: %r" % (msg,)


def main():
    p = argparse.ArgumentParser(description="Ask agentd for approval of a tool call.")
    p.add_argument("tool")
    p.add_argument("args_json", nargs="?", default="{}")
    p.add_argument("--summary")
    p.add_argument("--timeout-ms", type=int)
    p.add_argument("--name", default="python-agent")
    p.add_argument("--socket", default=default_socket())
    a = p.parse_args()
    try:
        args = json.loads(a.args_json)
    except ValueError as e:
        print("error: ARGS_JSON is not JSON: %s" % e, file=sys.stderr)
        return 2
    try:
        conn = Connection(a.socket, a.name)
    except OSError as e:
        print("error: cannot reach agentd at %s: %s" % (a.socket, e), file=sys.stderr)
        return 4
    except RuntimeError as e:
        print("error: %s" % e, file=sys.stderr)
        return 4
    try:
        decision = conn.request(a.tool, args, a.summary, a.timeout_ms)
    except RuntimeError as e:
        print("error: %s" % e, file=sys.stderr)
        return 4
    except OSError as e:
        print("error: lost agentd at %s: %s" % (a.socket, e), file=sys.stderr)
        return 4
    state = decision["state"]
    reason = decision.get("reason") or ""
    print(json.dumps({"state": state, "by": decision.get("by"), "reason": reason}))
    return {"Approved": 0, "Denied": 1, "Expired": 3}.get(state, 1)


if __name__ == "__main__":
    sys.exit(main())
