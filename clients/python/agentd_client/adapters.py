"""Adapters that put agentd in front of agent SDKs' own approval points.

- Claude Agent SDK: `claude_agent_sdk_can_use_tool()` returns the `can_use_tool(tool_name,
  input, context)` callback of `ClaudeAgentOptions`; it asks agentd (in a thread, so the SDK's
  event loop keeps running) and answers `PermissionResultAllow` (with the operator's edited
  arguments as `updated_input`, if any) or `PermissionResultDeny` with the reason.
- OpenAI Agents SDK: tools with `needs_approval` pause a run with `result.interruptions`;
  `openai_agents_decide(result)` asks agentd about each and returns the run state with each
  approved or rejected, to resume with `Runner.run(agent, state)`. That SDK cannot take edited
  arguments, so an approval with edited arguments is a rejection.

Both fail closed: when agentd cannot be asked, the call is denied.
"""

import asyncio
import json
import os

from . import AgentdError, request_approval


def claude_agent_sdk_can_use_tool(*, agent="claude-agent-sdk", session=None, timeout=None,
                                  cwd=None, socket_path=None, result_types=None):
    """The Claude Agent SDK's `can_use_tool` callback, asking agentd.

    `result_types` is `(PermissionResultAllow, PermissionResultDeny)`; by default they are
    imported from `claude_agent_sdk`.
    """
    # The agent's working folder (its project): reads there pass at once. By default, this
    # process's, which is where an SDK agent works unless told otherwise.
    cwd = cwd or os.getcwd()
    if result_types is None:
        from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny
        result_types = (PermissionResultAllow, PermissionResultDeny)
    allow, deny = result_types

    async def can_use_tool(tool_name, input_data, context):
        try:
            d = await asyncio.to_thread(
                request_approval, tool_name, input_data, agent=agent, session=session,
                timeout=timeout, cwd=cwd, socket_path=socket_path)
        except AgentdError as e:
            return deny(message="agentd: %s; denied to be safe" % e)
        if d.approved:
            return allow(updated_input=d.args if d.args is not None else input_data)
        return deny(message=str(d))

    return can_use_tool


def openai_agents_decide(result, *, agent="openai-agents", session=None, timeout=None,
                         cwd=None, socket_path=None):
    """Asks agentd about each of an OpenAI Agents SDK run's `interruptions` (tool calls waiting
    for approval); returns `result.to_state()` with each approved or rejected."""
    cwd = cwd or os.getcwd()
    state = result.to_state()
    for item in result.interruptions:
        raw = getattr(item, "raw_item", None)
        name = getattr(item, "name", None) or getattr(raw, "name", None) or "tool"
        arguments = getattr(item, "arguments", None)
        if arguments is None:
            arguments = getattr(raw, "arguments", "{}")
        try:
            args = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            args = {"arguments": arguments}
        try:
            d = request_approval(name, args, agent=agent, session=session, timeout=timeout,
                                 cwd=cwd, socket_path=socket_path)
        except AgentdError:
            d = None
        if d is not None and d.approved and d.args is None:
            state.approve(item)
        else:
            state.reject(item)
    return state
