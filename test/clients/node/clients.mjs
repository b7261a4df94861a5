// Node clients of the client matrix (test/clients/matrix.test.ts), written the way agent code
// calls them: no proxy or CA option anywhere; whatever they do comes from the environment alone
// (NODE_USE_ENV_PROXY + HTTPS_PROXY, NODE_EXTRA_CA_CERTS).
//
// Usage: node clients.mjs CLIENT ALLOWED_URL DENIED_URL
// Prints one JSON line per call: {"call": "allowed"|"denied", "shown": <what the user sees>}.
const [client, allowed, denied] = process.argv.slice(2)
const out = (call, shown) => process.stdout.write(JSON.stringify({ call, shown }) + '\n')
const errorText = (err) => `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}${err?.cause ? ` (cause: ${err.cause.code ?? ''} ${err.cause.message ?? err.cause})` : ''}`
const urls = [['allowed', allowed], ['denied', denied]]

async function each(fn) {
  for (const [call, url] of urls) {
    try { out(call, await fn(url)) } catch (err) { out(call, errorText(err)) }
  }
}

if (client === 'fetch') {
  await each(async (url) => {
    const r = await fetch(url, { signal: AbortSignal.timeout(20_000) })
    return `${r.status} ${r.statusText}\n${await r.text()}`
  })
} else if (client === 'https') {
  const { get } = await import('node:https')
  await each((url) => new Promise((resolve, reject) => {
    get(url, { timeout: 20_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c) => { body += c }).on('end', () => resolve(`${res.statusCode} ${res.statusMessage}\n${body}`))
    }).on('error', reject)
  }))
} else if (client === 'undici') {
  const { request } = await import('undici')
  await each(async (url) => {
    const r = await request(url, { headersTimeout: 20_000 })
    return `${r.statusCode}\n${await r.body.text()}`
  })
} else if (client === 'openai') {
  const { default: OpenAI } = await import('openai')
  // base_url is the tool's own URL; the key is a placeholder toolgate replaces.
  const api = new OpenAI({ baseURL: allowed.replace(/\/models$/, ''), apiKey: 'sk-agent-placeholder', maxRetries: 0, timeout: 20_000 })
  try {
    const page = await api.models.list()
    out('allowed', 'models: ' + page.data.map((m) => m.id).join(','))
  } catch (err) { out('allowed', errorText(err)) }
  try {
    await api.models.retrieve(denied.split('/').at(-1))
    out('denied', 'no error')
  } catch (err) { out('denied', errorText(err)) }
} else if (client === 'mcp') {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js')
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js')
  const mcp = new Client({ name: 'matrix', version: '1.0.0' })
  try {
    await mcp.connect(new StreamableHTTPClientTransport(new URL(allowed)))
    for (const [call, tool, args] of [['allowed', 'echo', { text: 'hello from node' }], ['denied', 'delete_repo', { repo: 'acme/app' }]]) {
      try {
        const r = await mcp.callTool({ name: tool, arguments: args })
        out(call, `is_error=${r.isError === true} ${r.content.map((c) => c.text ?? '').join(' ')}`)
      } catch (err) { out(call, errorText(err)) }
    }
  } catch (err) {
    out('allowed', errorText(err))
    out('denied', errorText(err))
  } finally {
    await mcp.close().catch(() => {})
  }
} else {
  throw new Error(`unknown client ${client}`)
}
