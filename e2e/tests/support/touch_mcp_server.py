"""A small stdio MCP server for the runtime tests: one tool, `touch`, that creates an empty
file at the path it is given. Built on the official Python SDK (`mcp` 2.x from PyPI, where
FastMCP is MCPServer)."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("probe")


@server.tool()
def touch(path: str) -> str:
    """Create an empty file at PATH."""
    open(path, "a").close()
    return "made " + path


if __name__ == "__main__":
    server.run()
