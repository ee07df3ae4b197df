"""agentd_client against a real agentd (AGENTD_SOCKET), decided with the real `ash` (ASH):
approve, deny with the reason, edited arguments, the default socket path, and the adapters
with stand-ins for the SDKs' result types."""

import asyncio
import json
import os
import subprocess
import threading
import time
import unittest

from agentd_client import AgentdError, default_socket, request_approval
from agentd_client.adapters import claude_agent_sdk_can_use_tool, openai_agents_decide

ASH = os.environ["ASH"]


def decide_when_pending(*args):
    """In the background: wait for the one pending request, then `ash ARGS[0] ID ARGS[1:]`."""

    def run():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out = subprocess.run([ASH, "pending", "--json"], capture_output=True, text=True)
            pending = json.loads(out.stdout or "[]")
            if pending:
                subprocess.run([ASH, args[0], pending[0]["id"], *args[1:]], check=True,
                               capture_output=True)
                return
            time.sleep(0.05)

    t = threading.Thread(target=run)
    t.start()
    return t


class Client(unittest.TestCase):
    def test_approve_deny_and_edited(self):
        t = decide_when_pending("approve", "--operator", "alice")
        d = request_approval("deploy", {"env": "prod"}, agent="py", summary="ship it")
        t.join()
        self.assertTrue(d.approved)
        self.assertEqual(d.by, "alice")
        self.assertIsNone(d.args)
        t = decide_when_pending("deny", "--operator", "bob", "--reason", "not today")
        d = request_approval("deploy", {"env": "prod"}, agent="py")
        t.join()
        self.assertFalse(d.approved)
        self.assertEqual(str(d), "denied by operator bob: not today")
        t = decide_when_pending("approve", "--args", '{"env":"staging"}')
        d = request_approval("deploy", {"env": "prod"}, agent="py")
        t.join()
        self.assertTrue(d.approved)
        self.assertEqual(d.args, {"env": "staging"})

    def test_unreachable_is_an_error(self):
        with self.assertRaises(AgentdError) as e:
            request_approval("deploy", {}, socket_path="/nonexistent/agentd.sock")
        self.assertIn("cannot reach agentd", str(e.exception))

    def test_the_default_socket_follows_the_interface(self):
        env = dict(os.environ)
        try:
            os.environ.pop("AGENTD_SOCKET", None)
            os.environ.pop("XDG_RUNTIME_DIR", None)
            self.assertEqual(default_socket(), "/tmp/agentd-%d/agentd.sock" % os.getuid())
            os.environ["XDG_RUNTIME_DIR"] = "/run/user/7"
            self.assertEqual(default_socket(), "/run/user/7/agentd/agentd.sock")
            os.environ["AGENTD_SOCKET"] = "/x/y.sock"
            self.assertEqual(default_socket(), "/x/y.sock")
        finally:
            os.environ.clear()
            os.environ.update(env)


class Allow:
    def __init__(self, updated_input=None):
        self.updated_input = updated_input


class Deny:
    def __init__(self, message=""):
        self.message = message


class Adapters(unittest.TestCase):
    def test_claude_agent_sdk_can_use_tool(self):
        can_use_tool = claude_agent_sdk_can_use_tool(agent="sdk", result_types=(Allow, Deny))
        t = decide_when_pending("approve", "--args", '{"command":"make deploy-staging"}')
        r = asyncio.run(can_use_tool("Bash", {"command": "make deploy"}, None))
        t.join()
        self.assertIsInstance(r, Allow)
        self.assertEqual(r.updated_input, {"command": "make deploy-staging"})
        # A call the presets answer at once needs no person, and keeps its arguments.
        r = asyncio.run(can_use_tool("Bash", {"command": "ls"}, None))
        self.assertIsInstance(r, Allow)
        self.assertEqual(r.updated_input, {"command": "ls"})
        t = decide_when_pending("deny", "--operator", "bob", "--reason", "no")
        r = asyncio.run(can_use_tool("Bash", {"command": "rm -rf x"}, None))
        t.join()
        self.assertIsInstance(r, Deny)
        self.assertEqual(r.message, "denied by operator bob: no")
        gone = claude_agent_sdk_can_use_tool(socket_path="/nonexistent/s", result_types=(Allow, Deny))
        r = asyncio.run(gone("Bash", {}, None))
        self.assertIsInstance(r, Deny)
        self.assertIn("denied to be safe", r.message)

    def test_claude_agent_sdk_with_its_own_result_types(self):
        # The real SDK's types (claude-agent-sdk from PyPI, which CI installs).
        from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny

        can_use_tool = claude_agent_sdk_can_use_tool(agent="sdk")
        t = decide_when_pending("deny", "--operator", "bob", "--reason", "not now")
        r = asyncio.run(can_use_tool("Bash", {"command": "make deploy"}, None))
        t.join()
        self.assertIsInstance(r, PermissionResultDeny)
        self.assertEqual(r.message, "denied by operator bob: not now")
        # A read in the folder the agent works in (this process's, by default) passes at once.
        readme = os.path.join(os.getcwd(), "README.md")
        r = asyncio.run(can_use_tool("Read", {"file_path": readme}, None))
        self.assertIsInstance(r, PermissionResultAllow)
        self.assertEqual(r.updated_input, {"file_path": readme})

    def test_openai_agents_decide(self):
        class Item:
            def __init__(self, name, arguments):
                self.name = name
                self.arguments = arguments

        class State:
            def __init__(self):
                self.approved, self.rejected = [], []

            def approve(self, item):
                self.approved.append(item.name)

            def reject(self, item):
                self.rejected.append(item.name)

        class Result:
            def __init__(self):
                self.interruptions = [Item("deploy", '{"env":"staging"}')]
                self.state = State()

            def to_state(self):
                return self.state

        t = decide_when_pending("approve")
        state = openai_agents_decide(Result(), agent="oai")
        t.join()
        self.assertEqual(state.approved, ["deploy"])
        t = decide_when_pending("approve", "--args", '{"env":"dev"}')
        state = openai_agents_decide(Result(), agent="oai")
        t.join()
        self.assertEqual(state.rejected, ["deploy"], "edited arguments cannot be passed on")


if __name__ == "__main__":
    unittest.main()
