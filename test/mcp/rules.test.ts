// MCP tool-name rules: globs, deny wins, fail closed without allow_tools, access classes.
import t from 'tap'
import { compileMcpRules, mcpToolAllowed, mcpToolAccess } from '../../proxy/src/classify/mcp/rules.ts'
import { compileGlob, globMatches } from '../../proxy/src/classify/mcp/glob.ts'

t.test('glob matching', async (t) => {
  const table: [string, string, boolean][] = [
    ['get_*', 'get_issue', true],
    ['get_*', 'get_', true],
    ['get_*', 'Get_issue', false], // case-sensitive, like MCP tool names
    ['get_*', 'xget_issue', false],
    ['*_issue', 'list_issue', true],
    ['*_issue', 'list_issues', false],
    ['?et_issue', 'get_issue', true],
    ['?et_issue', 'et_issue', false],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
    ['*', '', true],
    ['**', 'anything.at/all', true],
    ['tool_?', 'tool_\u{1F600}', true], // ? is one character, even outside the BMP
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['a.b', 'aXb', false], // '.' is literal, not a regex
  ]
  for (const [glob, name, want] of table) t.equal(globMatches(compileGlob(glob), name), want, `${glob} ~ ${name}`)
  // Pathological pattern stays fast (no exponential backtracking): bounded work, asserted by result.
  t.equal(globMatches(compileGlob('*a*a*a*a*a*a*a*a*b'), 'a'.repeat(256)), false)
  t.throws(() => compileGlob(''), /empty glob/)
  t.throws(() => compileGlob('x'.repeat(257)), /longer than 256/)
})

t.test('deny wins over allow; names outside allow_tools are denied', async (t) => {
  const r = compileMcpRules({ allow_tools: ['get_*', 'list_*', 'delete_draft'], deny_tools: ['*_secret*', 'delete_*'] })
  t.match(mcpToolAllowed(r, 'get_issue'), { allowed: true, reason: /matches allow_tools "get_\*"/ })
  t.match(mcpToolAllowed(r, 'get_secret_key'), { allowed: false, reason: /matches deny_tools "\*_secret\*"/ })
  t.match(mcpToolAllowed(r, 'delete_draft'), { allowed: false, reason: /deny_tools "delete_\*"/ })
  t.match(mcpToolAllowed(r, 'create_issue'), { allowed: false, reason: /not in allow_tools/ })
  t.match(mcpToolAllowed(r, 'get\u200bissue'), { allowed: false, reason: /invisible/ })
})

t.test('without allow_tools nothing is allowed (fail closed); ["*"] allows every name', async (t) => {
  t.match(mcpToolAllowed(compileMcpRules({}), 'get_issue'), { allowed: false, reason: /allow_tools is empty/ })
  t.match(mcpToolAllowed(compileMcpRules({ allow_tools: ['*'] }), 'whatever'), { allowed: true })
  t.match(mcpToolAllowed(compileMcpRules({ allow_tools: ['*'], deny_tools: ['whatever'] }), 'whatever'), { allowed: false })
})

t.test('access classes: exact name beats globs, first glob in order wins, default execute', async (t) => {
  const r = compileMcpRules({ allow_tools: ['*'], tool_access: { 'get_*': 'read', '*_issue': 'write', 'get_admin': 'delegate' } })
  t.equal(mcpToolAccess(r, 'get_issue'), 'read')
  t.equal(mcpToolAccess(r, 'close_issue'), 'write')
  t.equal(mcpToolAccess(r, 'get_admin'), 'delegate')
  t.equal(mcpToolAccess(r, 'run_query'), 'execute')
  t.equal(mcpToolAllowed(r, 'get_issue').access, 'read')
})

t.test('defaults and compile errors', async (t) => {
  const r = compileMcpRules({})
  t.equal(r.path, '/mcp')
  t.equal(r.batches, 'decide_each')
  t.equal(compileMcpRules({ path: '/v1/mcp', batches: 'refuse' }).batches, 'refuse')
  t.throws(() => compileMcpRules({ deny_tools: ['ok', ''] }), /mcp\.deny_tools\[1\]: empty glob/)
})

t.test('tool_names: the MCP rule by default, any for servers that use other names', async (t) => {
  const strict = compileMcpRules({ allow_tools: ['*'] })
  const lenient = compileMcpRules({ allow_tools: ['*'], tool_names: 'any' })
  for (const name of ['get_x', 'a.b-c_D9', 'x'.repeat(128)]) t.equal(mcpToolAllowed(strict, name).allowed, true, name.slice(0, 20))
  for (const name of ['get x', 'get/x', 'get:x', 'get_é', 'x'.repeat(129), '']) {
    t.equal(mcpToolAllowed(strict, name).allowed, false, `${JSON.stringify(name.slice(0, 20))} refused under tool_names: mcp`)
  }
  for (const name of ['get x', 'get/x', 'get_é', 'x'.repeat(200)]) t.equal(mcpToolAllowed(lenient, name).allowed, true, `${JSON.stringify(name.slice(0, 20))} allowed under tool_names: any`)
  for (const name of ['get\u200bx', 'get\u0000x', 'x'.repeat(257)]) t.equal(mcpToolAllowed(lenient, name).allowed, false, 'invisible characters and overlong names stay refused')
})
