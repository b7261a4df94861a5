// The 2026-07-28 mirrored headers (classify/mcp/http-headers.ts), property-based: whatever a
// header says, it passes only when it says what the body says.

import t from 'tap'
import fc from 'fast-check'
import { checkMcpHeaders, decodeHeaderValue, readMcpHeaders } from '../../proxy/src/classify/mcp/http-headers.ts'
import { parseMcpBody } from '../../proxy/src/classify/mcp/parse.ts'
import { headerMap } from '../../proxy/src/classify/mcp/pins.ts'

const schema = headerMap({ type: 'object', properties: { repo: { type: 'string', 'x-mcp-header': 'Repo' }, n: { type: 'integer', 'x-mcp-header': 'N' } } })
const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} }
const name = fc.stringMatching(/^[a-z_]{1,12}$/)
const b64 = (s: string): string => `=?base64?${Buffer.from(s).toString('base64')}?=`

function check(body: unknown, headers: [string, string][]) {
  const parsed = parseMcpBody(Buffer.from(JSON.stringify(body)), 'application/json', 1 << 20)
  if (!parsed.ok) throw new Error(parsed.reason)
  return checkMcpHeaders(readMcpHeaders(headers.flat()), parsed.messages, parsed.batch, () => schema)
}

t.test('Mcp-Name passes exactly when it names what the body names (verbatim or base64)', async (t) => {
  fc.assert(fc.property(name, name, fc.boolean(), fc.string({ maxLength: 20 }), (bodyName, headerName, encode, repo) => {
    const r = check({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: bodyName, arguments: { repo }, _meta: meta } },
      [['mcp-protocol-version', '2026-07-28'], ['mcp-method', 'tools/call'], ['mcp-name', encode ? b64(headerName) : headerName], ['mcp-param-repo', b64(repo)]])
    return r.ok === (bodyName === headerName)
  }), { numRuns: 400 })
})

t.test('Mcp-Param-* passes exactly when it mirrors the argument', async (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.integer(), fc.integer(), (bodyRepo, headerRepo, bodyN, headerN) => {
    const r = check({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_x', arguments: { repo: bodyRepo, n: bodyN }, _meta: meta } },
      [['mcp-protocol-version', '2026-07-28'], ['mcp-method', 'tools/call'], ['mcp-name', 'get_x'], ['mcp-param-repo', b64(headerRepo)], ['mcp-param-n', String(headerN)]])
    return r.ok === (bodyRepo === headerRepo && bodyN === headerN)
  }), { numRuns: 400 })
})

t.test('Mcp-Method passes exactly when it equals the body method; handshake-era requests need no headers', async (t) => {
  const methods = ['tools/list', 'tools/call', 'prompts/list', 'ping', 'server/discover', 'Tools/list', 'tools/list ']
  fc.assert(fc.property(fc.constantFrom(...methods.filter((m) => m !== 'tools/call')), fc.constantFrom(...methods), (bodyMethod, headerMethod) => {
    const r = check({ jsonrpc: '2.0', id: 1, method: bodyMethod, params: { _meta: meta } }, [['mcp-method', headerMethod]])
    return r.ok === (bodyMethod === headerMethod)
  }))
  t.ok(check({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_x', arguments: { repo: 'a' } } }, [['mcp-protocol-version', '2025-11-25']]).ok)
})

t.test('base64 sentinel: canonical only', async (t) => {
  t.equal(decodeHeaderValue(b64('héllo')), 'héllo')
  t.equal(decodeHeaderValue('plain'), 'plain')
  t.equal(decodeHeaderValue('=?base64?aGk?='), null, 'unpadded')
  t.equal(decodeHeaderValue('=?base64?aGl=?='), null, 'non-canonical trailing bits')
  t.equal(decodeHeaderValue(`=?base64?${Buffer.from([0xff]).toString('base64')}?=`), null, 'not UTF-8')
})
