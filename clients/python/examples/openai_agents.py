"""An OpenAI Agents SDK run whose approval-needing tools wait for agentd's queue.

    pip install ./clients/python openai-agents
    python3 clients/python/examples/openai_agents.py
"""

import asyncio

from agents import Agent, Runner, function_tool

from agentd_client.adapters import openai_agents_decide


@function_tool(needs_approval=True)
def deploy(env: str) -> str:
    """Deploy the service to an environment."""
    return "deployed to %s" % env


async def main():
    agent = Agent(name="deployer", instructions="Deploy to staging.", tools=[deploy])
    result = await Runner.run(agent, "deploy to staging")
    while result.interruptions:
        state = openai_agents_decide(result, agent="deployer")
        result = await Runner.run(agent, state)
    print(result.final_output)


if __name__ == "__main__":
    asyncio.run(main())
