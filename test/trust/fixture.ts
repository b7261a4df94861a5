// What the trust tests share: the trust domain, the agent's workload identity, and the `api` tool
// with a static credential on a real upstream. One copy, so a change to the identity or the tool
// shape is made once.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The `aud` task grants carry (tasks.audience). */
export const AUD = 'toolgate://prod.example'
/** The `aud` approver tokens carry (approvals.audience). */
export const APPROVALS_AUD = 'toolgate-approvals'
/** The agent's workload identity: the ServiceAccount username of agentYaml(). */
export const ME = 'system:serviceaccount:agents:research'

/** The agent section for ServiceAccount `sa` (default research) in namespace agents. */
export const agentYaml = (sa = 'research'): string => `agent: { namespace: agents, service_account: ${sa}, pod: research-0 }`

/** A static secret for the `api` tool, in a fresh temp dir (0600): the secret and the credentials YAML. */
export function apiSecret(prefix: string, secret = `static-secret-${Math.random().toString(36).slice(2)}`): { secret: string; dir: string; credentialsYaml: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  writeFileSync(join(dir, 'api.secret'), secret, { mode: 0o600 })
  return { secret, dir, credentialsYaml: `credentials:\n  api: { type: static, secret_file: ${join(dir, 'api.secret')} }\n` }
}

/** The `api` tool on the upstream at `port`, with `routes` (YAML flow mappings) and the static credential. */
export function apiToolYaml(port: number, routes: string[]): string {
  return `tools:
  - name: api
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    routes:
${routes.map((r) => `      - ${r}\n`).join('')}    credential: { provider: api }
`
}
