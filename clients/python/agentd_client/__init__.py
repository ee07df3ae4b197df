"""Ask agentd for approval of a tool call, and block until a person (or a rule) decides.

Standard library only. agentd speaks length-prefixed frames (4-byte big-endian length, then the
payload) on a Unix socket; a hello that is a JSON object makes the whole connection JSON, with
serde's external tagging: {"Submit": {...}} out, {"Queued": {...}} / {"Outcome": {...}} back.

    from agentd_client import request_approval
    decision = request_approval("deploy", {"env": "prod"}, agent="my-agent", summary="ship it")
    if decision.approved:
        run(decision.args or {"env": "prod"})   # the operator may have edited the arguments
"""

import json
import os
import re
import socket
import struct
import time

__all__ = ["AgentdError", "Decision", "default_socket", "request_approval", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 4
MAX_FRAME = 1 << 20
# A rate limit that clears within this long is waited out (as agentd's own clients do).
MAX_RATE_WAIT = 30.0
_RETRY = re.compile(r"; try again in (\d+) ms$")


class AgentdError(Exception):
    """agentd could not be reached, refused the request, or answered something unexpected."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class Decision:
    """How a request ended: `state` is Approved, Denied, Expired or Withdrawn."""

    def __init__(self, raw):
        self.raw = raw
        self.state = raw.get("state")
        self.by = raw.get("by")
        self.reason = raw.get("reason")
        self.source = raw.get("source")
        edited = raw.get("approved_args")
        # The arguments an operator approved instead of those asked with, if they edited them.
        self.args = json.loads(edited) if edited else None

    @property
    def approved(self):
        return self.state == "Approved"

    def __str__(self):
        # The same sentence agentd's own clients print, e.g. "denied by operator alice: no".
        state, source, by = (self.state or "").lower(), self.source, self.by
        if state == "approved" and source == "Policy":
            text = "approved by policy (tool needs no approval)"
        elif state in ("approved", "denied") and source == "Grant":
            text = "%s by a grant from %s" % (state, by)
        elif state in ("approved", "denied") and source == "Rule":
            text = "%s by rule %s" % (state, by)
        elif state in ("approved", "denied") and source == "Parent":
            text = "%s by parent agent %s" % (state, by)
        elif state == "approved":
            text = "approved by %s" % by
        elif state == "denied":
            text = "denied by operator %s" % by
        elif state == "expired":
            text = "expired: no decision before the deadline"
        else:
            text = state
        if self.reason:
            text += ": %s" % self.reason
        if self.args is not None:
            text += " (with arguments the operator edited)"
        return text

    def __repr__(self):
        return "Decision(%r)" % (self.raw,)


def default_socket():
    """The socket agentd listens on by default: $AGENTD_SOCKET, else
    $XDG_RUNTIME_DIR/agentd/agentd.sock, else /tmp/agentd-$UID/agentd.sock."""
    if os.environ.get("AGENTD_SOCKET"):
        return os.environ["AGENTD_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "agentd", "agentd.sock")
    return "/tmp/agentd-%d/agentd.sock" % os.getuid()


class _Connection:
    def __init__(self, path, name, parent=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as e:
            self.sock.close()
            raise AgentdError("cannot reach agentd at %s: %s" % (path, e), "Unreachable")
        self.send({"version": PROTOCOL_VERSION, "role": "Agent", "name": name, "parent": parent})
        welcome = self.recv()
        if "Welcome" not in welcome:
            raise _error(welcome)

    def close(self):
        self.sock.close()

    def send(self, msg):
        payload = json.dumps(msg).encode()
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def _exactly(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise AgentdError("agentd closed the connection", "Disconnected")
            buf += chunk
        return buf

    def recv(self):
        (length,) = struct.unpack(">I", self._exactly(4))
        if length > MAX_FRAME:
            raise AgentdError("agentd sent a frame of %d bytes" % length, "BadFrame")
        return json.loads(self._exactly(length))


def _error(msg):
    if isinstance(msg, dict) and "Error" in msg:
        e = msg["Error"]
        return AgentdError("agentd refused: %s" % e.get("message"), e.get("code"))
    return AgentdError("unexpected answer from agentd: %r" % (msg,))


def request_approval(tool, args=None, *, agent="python-agent", session=None, summary=None,
                     timeout=None, cwd=None, risk_hint=None, parent=None, socket_path=None,
                     on_queued=None):
    """Asks agentd to approve `tool` with `args` (any JSON value) and blocks until decided.

    Returns a Decision (check `.approved`; `.args` holds edited arguments to use instead, if the
    operator edited them). `timeout` (seconds) may shorten the tool's deadline, never lengthen
    it. `on_queued(ticket)` is called when the request waits for a person. Raises AgentdError
    when agentd cannot be reached or refuses the request; a rate limit that clears within the
    request's own time is waited out.
    """
    path = socket_path or default_socket()
    conn = _Connection(path, agent, parent)
    timeout_ms = None if timeout is None else max(1, int(timeout * 1000))
    patience = min(MAX_RATE_WAIT, timeout if timeout is not None else MAX_RATE_WAIT)
    give_up = time.monotonic() + patience
    submit = {"Submit": {
        "tool": tool,
        "args_json": json.dumps({} if args is None else args),
        "session": session,
        "summary": summary,
        "timeout_ms": timeout_ms,
        "risk_hint": risk_hint,
        "cwd": cwd,
    }}
    try:
        conn.send(submit)
        while True:
            msg = conn.recv()
            if "Queued" in msg:
                if on_queued:
                    on_queued(msg["Queued"])
            elif "Outcome" in msg:
                return Decision(msg["Outcome"]["decision"])
            elif "Error" in msg:
                err = msg["Error"]
                wait = _RETRY.search(err.get("message", "")) if err.get("code") == "LimitReached" else None
                if wait and time.monotonic() + int(wait.group(1)) / 1000 <= give_up:
                    time.sleep(int(wait.group(1)) / 1000)
                    conn.send(submit)
                    continue
                raise _error(msg)
            else:
                raise _error(msg)
    finally:
        conn.close()
