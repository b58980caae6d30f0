// A second MCP client for the local run's /mcp: the official TypeScript
// SDK (@modelcontextprotocol/sdk), loaded from the directory named by
// MCP_NODE_SDK_DIR (where .ci/run installs it, outside the repository).
// Usage: node mcpclient.cjs URL AGENT CONNECTOR
// It initializes, lists the tools, calls call_api once and prints one JSON
// line with what it saw.
const { createRequire } = require('node:module');
const path = require('node:path');

const sdk = createRequire(path.join(process.env.MCP_NODE_SDK_DIR, 'package.json'));
const { Client } = sdk('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = sdk('@modelcontextprotocol/sdk/client/streamableHttp.js');

async function main() {
  const [url, agent, connector] = process.argv.slice(2);
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { 'Connectors-Agent': agent } },
  });
  const client = new Client({ name: 'connectors-node-test', version: '1.0.0' });
  await client.connect(transport);
  const tools = await client.listTools();
  const result = await client.callTool({
    name: 'call_api',
    arguments: { connector, method: 'GET', path: 'users/me/messages', query: { maxResults: '3' } },
  });
  console.log(JSON.stringify({
    server: client.getServerVersion(),
    protocolVersion: transport.protocolVersion,
    tools: tools.tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema })),
    result,
  }));
  await client.close();
}

main().catch((err) => {
  console.error(String((err && err.stack) || err));
  process.exit(1);
});
