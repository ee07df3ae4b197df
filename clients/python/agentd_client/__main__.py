"""agentd-request TOOL [ARGS_JSON] [--summary TEXT] [--timeout SECS] [--agent NAME]

Asks agentd for approval and blocks. Exit codes as `ash request`: 0 approved, 1 denied,
2 usage, 3 expired, 4 agentd unreachable or any other error."""

import argparse
import json
import sys

from . import AgentdError, default_socket, request_approval


def main(argv=None):
    p = argparse.ArgumentParser(prog="agentd-request", description="Ask agentd for approval of a tool call.")
    p.add_argument("tool")
    p.add_argument("args_json", nargs="?", default="{}")
    p.add_argument("--summary")
    p.add_argument("--timeout", type=float, help="seconds; may shorten the tool's deadline")
    p.add_argument("--agent", default="python-agent")
    p.add_argument("--session")
    p.add_argument("--socket", default=default_socket())
    a = p.parse_args(argv)
    try:
        args = json.loads(a.args_json)
    except ValueError as e:
        print("error: ARGS_JSON is not JSON: %s" % e, file=sys.stderr)
        return 2

    def queued(ticket):
        print("queued %s (%s risk), deadline %s" % (ticket["id"], ticket["risk"], ticket["expires_at"]),
              file=sys.stderr, flush=True)

    try:
        d = request_approval(a.tool, args, agent=a.agent, session=a.session, summary=a.summary,
                             timeout=a.timeout, socket_path=a.socket, on_queued=queued)
    except AgentdError as e:
        print("error: %s" % e, file=sys.stderr)
        return 4
    print(json.dumps({"state": d.state, "by": d.by, "reason": d.reason or "", "approved_args": d.args}))
    return {"Approved": 0, "Denied": 1, "Expired": 3}.get(d.state, 1)


if __name__ == "__main__":
    sys.exit(main())
