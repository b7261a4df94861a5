// The environment an agent container gets: where the proxy is and which CA to trust, in the form
// each common runtime reads (docs/clients.md has the table of clients and what each one reads).
// Pure functions of the injector settings and the container's own env, so the client matrix test
// (test/clients/) runs real clients with exactly this environment.

import { isIPv6 } from 'node:net'
import type { EnvVar } from './pod.ts'
import type { InjectorSettings } from './settings.ts'

/** Where a container's own JAVA_TOOL_OPTIONS goes when it comes from valueFrom (see withAgentEnvironment). */
export const APP_JAVA_TOOL_OPTIONS = 'TOOLGATE_APP_JAVA_TOOL_OPTIONS'
const JAVA_TOOL_OPTIONS = 'JAVA_TOOL_OPTIONS'
/**
 * Every variable the JVM takes options from, in the order it applies them: JAVA_TOOL_OPTIONS
 * first, then the launcher's JDK_JAVA_OPTIONS (before the command line), then _JAVA_OPTIONS
 * (after it). A later -D wins, so a pod's `JDK_JAVA_OPTIONS=-Dhttps.proxyHost=elsewhere` silently
 * undid toolgate's JAVA_TOOL_OPTIONS (checked with OpenJDK). toolgate's options are therefore
 * appended to each of them the container sets; JAVA_TOOL_OPTIONS is always set.
 */
export const JAVA_OPTION_VARIABLES = [JAVA_TOOL_OPTIONS, 'JDK_JAVA_OPTIONS', '_JAVA_OPTIONS'] as const
/** Where a container's own `name` (one of JAVA_OPTION_VARIABLES) goes when it comes from valueFrom. */
export function appJavaOptionsName(name: string): string {
  return name === JAVA_TOOL_OPTIONS ? APP_JAVA_TOOL_OPTIONS : `TOOLGATE_APP${name.startsWith('_') ? '' : '_'}${name}`
}

/** The paths of the trust files the sidecar publishes into the shared CA volume. */
export function trustFilePaths(s: InjectorSettings): { bundle: string; truststore: string; wgetrc: string } {
  return {
    bundle: `${s.ca.mountPath}/${s.ca.file}`,
    truststore: `${s.ca.mountPath}/${s.ca.truststoreFile}`,
    wgetrc: `${s.ca.mountPath}/${s.ca.wgetrcFile}`,
  }
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)]
}

function noProxyEntries(s: InjectorSettings): string[] {
  return unique(['localhost', '127.0.0.1', '::1', ...s.noProxy])
}

/**
 * NO_PROXY entries in Java's http.nonProxyHosts syntax (`|`-separated, `*` wildcard at either end;
 * it also governs https). What Java cannot express (CIDRs, host:port) is left out, so Java sends
 * those through toolgate: the strict side (a call that should have bypassed is decided; nothing
 * that should be decided bypasses).
 */
export function javaNonProxyHosts(entries: readonly string[]): string {
  const out: string[] = []
  for (const raw of entries) {
    const e = raw.trim().toLowerCase()
    if (e === '') continue
    if (e === '*') { out.push('*'); continue }
    if (e.includes('/')) continue // CIDR
    const bare = e.replace(/^\[(.*)\]$/, '$1')
    if (isIPv6(bare)) { out.push(`[${bare}]`); continue } // Java matches the URI host, brackets kept
    if (e.includes(':')) continue // host:port
    if (e.startsWith('*.')) { out.push(e); continue }
    if (e.startsWith('.')) { out.push(`*${e}`); continue }
    // curl, Go and Python treat `example.com` as the domain and its subdomains.
    out.push(e)
    if (!/^[0-9.]+$/.test(e)) out.push(`*.${e}`)
  }
  return unique(out).join('|')
}

/** toolgate's Java system properties: the proxy for http and https, the exceptions, the truststore. */
export function javaToolOptions(s: InjectorSettings): string {
  const port = String(s.ports.proxy)
  return [
    '-Dhttp.proxyHost=127.0.0.1', `-Dhttp.proxyPort=${port}`,
    '-Dhttps.proxyHost=127.0.0.1', `-Dhttps.proxyPort=${port}`,
    `-Dhttp.nonProxyHosts=${javaNonProxyHosts(noProxyEntries(s))}`,
    `-Djavax.net.ssl.trustStore=${trustFilePaths(s).truststore}`,
    '-Djavax.net.ssl.trustStoreType=PKCS12',
  ].join(' ')
}

/** The last definition of `name` in an env list (Kubernetes: a later duplicate wins). */
function lastOf(env: readonly EnvVar[], name: string): EnvVar | undefined {
  return env.findLast((e) => e.name === name)
}

/**
 * The variables toolgate sets in an agent container. `existing` is the container's own env: a
 * JAVA_TOOL_OPTIONS it sets is kept and toolgate's options are appended (later -D options win in
 * the JVM). A literal value is extended in place; a valueFrom one is renamed to
 * TOOLGATE_APP_JAVA_TOOL_OPTIONS by withAgentEnvironment and referenced with Kubernetes'
 * dependent-variable syntax `$(NAME)`, which the kubelet expands from variables defined earlier in
 * the list.
 */
export function agentEnvironment(s: InjectorSettings, existing: readonly EnvVar[] = []): EnvVar[] {
  const proxy = `http://127.0.0.1:${s.ports.proxy}`
  const noProxy = noProxyEntries(s).join(',')
  const files = trustFilePaths(s)
  const ours = javaToolOptions(s)
  /** The container's own value of a Java options variable with ours appended; null when it sets none. */
  const extended = (name: string): string | null => {
    const theirs = lastOf(existing, name)
    if (theirs?.valueFrom !== undefined) return `$(${appJavaOptionsName(name)}) ${ours}`
    if (typeof theirs?.value === 'string' && theirs.value.trim() !== '') return `${theirs.value} ${ours}`
    return theirs !== undefined && name !== JAVA_TOOL_OPTIONS ? ours : null
  }
  const laterJava = JAVA_OPTION_VARIABLES.slice(1).flatMap((name): EnvVar[] => {
    const value = extended(name)
    return value === null ? [] : [{ name, value }]
  })
  // Lower-case variants too: curl and Python read only those for http, Go and Node read both.
  return [
    { name: 'HTTP_PROXY', value: proxy },
    { name: 'HTTPS_PROXY', value: proxy },
    { name: 'NO_PROXY', value: noProxy },
    { name: 'http_proxy', value: proxy },
    { name: 'https_proxy', value: proxy },
    { name: 'no_proxy', value: noProxy },
    // Node 24's fetch, node:http(s) and the SDKs built on them read the proxy variables only with this.
    { name: 'NODE_USE_ENV_PROXY', value: '1' },
    { name: 'SSL_CERT_FILE', value: files.bundle },
    { name: 'NODE_EXTRA_CA_CERTS', value: files.bundle },
    { name: 'REQUESTS_CA_BUNDLE', value: files.bundle },
    { name: 'GIT_SSL_CAINFO', value: files.bundle },
    // gRPC (grpcio, grpc-js, grpc-go's C core users) reads its roots only from this; it replaces
    // gRPC's built-in roots, which is why the bundle also holds the public roots.
    { name: 'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH', value: files.bundle },
    // wget (GnuTLS) reads neither SSL_CERT_FILE nor the proxy's CA any other way.
    { name: 'WGETRC', value: files.wgetrc },
    // Java reads no proxy or CA variable at all: system properties only.
    { name: JAVA_TOOL_OPTIONS, value: extended(JAVA_TOOL_OPTIONS) ?? ours },
    // Read after JAVA_TOOL_OPTIONS: ours appended to them too, so they cannot undo it.
    ...laterJava,
  ]
}

/**
 * The container's env with toolgate's variables last: its own definitions of those names are
 * dropped (toolgate's win), except the Java options variables, which are extended (see
 * agentEnvironment). A container's own TOOLGATE_APP_* renamed variables are dropped: the names are toolgate's.
 */
export function withAgentEnvironment(s: InjectorSettings, existing: readonly EnvVar[]): EnvVar[] {
  const ours = agentEnvironment(s, existing)
  const names = new Set(ours.map((e) => e.name))
  const renamed = new Map(JAVA_OPTION_VARIABLES.map((name) => [appJavaOptionsName(name), lastOf(existing, name)]))
  const kept = existing.flatMap((e): EnvVar[] => {
    if (renamed.has(e.name)) return []
    for (const [to, theirs] of renamed) if (e === theirs && e.valueFrom !== undefined) return [{ ...e, name: to }]
    return names.has(e.name) ? [] : [e]
  })
  return [...kept, ...ours]
}
