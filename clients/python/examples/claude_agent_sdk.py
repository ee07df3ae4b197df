"""Every tool call of a Claude Agent SDK run goes through agentd's queue.

    pip install ./clients/python claude-agent-sdk
    python3 clients/python/examples/claude_agent_sdk.py "tidy up the README"
"""

import asyncio
import sys

from claude_agent_sdk import ClaudeAgentOptions, query

from agentd_client.adapters import claude_agent_sdk_can_use_tool


async def main(prompt):
    options = ClaudeAgentOptions(can_use_tool=claude_agent_sdk_can_use_tool(agent="my-sdk-agent"))
    async for message in query(prompt=prompt, options=options):
        print(message)


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "list the files here"))
