"""An MCP client written by others (the official Python SDK, `mcp` on PyPI) calling `ash mcp`'s
`approve` tool the way Claude Code's --permission-prompt-tool does; prints the tool list and the
tool's text answer as one JSON line. Usage: mcp_client.py ASH SOCKET TOOL_NAME INPUT_JSON."""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    ash, socket, tool_name, tool_input = sys.argv[1:5]
    env = dict(os.environ, AGENTD_SOCKET=socket)
    params = StdioServerParameters(command=ash, args=["mcp", "--deadline", "20"], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool(
                "approve",
                {"tool_name": tool_name, "input": json.loads(tool_input), "tool_use_id": "toolu_01X"},
            )
            text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
            print(json.dumps({"tools": [t.name for t in tools.tools], "answer": json.loads(text)}))


asyncio.run(main())
