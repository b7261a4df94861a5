// The probes of `toolgate selftest`: each tries one way out of the pod that must not bypass the
// sidecar and says whether it was blocked or open. The rule behind every verdict is fail-closed:
// a path is `blocked` only when the probe has proof that nothing got through (the connection was
// refused, unreachable, never completed, or what answered was toolgate refusing it); anything else
// is `open`, and a probe that cannot tell (UDP without any answer) says `unknown`.
//
// Probes never use the proxy variables (that is the point: a client that ignores them) and never
// follow redirects. Every probe is bounded by its timeout and reads at most MAX_RESPONSE bytes.

import { createSocket } from 'node:dgram'
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { lookup } from 'node:dns/promises'

export type Verdict = 'blocked' | 'open' | 'unknown'

export interface ProbeResult {
  probe: string
  target: string
  verdict: Verdict
  detail: string
}

export interface HostPort {
  host: string
  port: number
}

const MAX_RESPONSE = 64 * 1024

/** Errors that prove a connection was never made (nothing reached the destination). */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EACCES', 'EPERM', 'EADDRNOTAVAIL', 'EAFNOSUPPORT', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'])

/** A response toolgate itself wrote when refusing: 4xx/5xx with its JSON error body (pipeline/error-body.ts). */
export function isToolgateRefusal(status: number, body: string): boolean {
  if (status < 400) return false
  try {
    // Upstream APIs answer {"error":{message,type,code}} too: toolgate's own carry its decision_id
    // key and a message that names toolgate.
    const v = JSON.parse(body) as { error?: { message?: unknown; decision_id?: unknown } } | null
    const e = typeof v === 'object' && v !== null ? v.error : undefined
    return typeof e === 'object' && e !== null && typeof e.message === 'string' && e.message.startsWith('toolgate: ') && 'decision_id' in e
  } catch {
    return false
  }
}

/** Splits an HTTP/1.x response read off a socket (what the probes got back). */
export function parseResponse(raw: Buffer): { status: number; body: string } | null {
  const text = raw.toString('latin1')
  const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text)
  if (!m) return null
  const end = text.indexOf('\r\n\r\n')
  return { status: Number(m[1]), body: end < 0 ? '' : Buffer.from(text.slice(end + 4), 'latin1').toString('utf8') }
}

function targetOf(hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`
}

interface Exchange {
  connected: boolean
  error: (Error & { code?: string }) | null
  data: Buffer
}

/**
 * Connects (plain TCP, or TLS with `servername`), writes `request` once connected, collects the
 * answer until the peer closes, MAX_RESPONSE bytes, or the timeout.
 */
function exchange(hp: HostPort, request: string, timeoutMs: number, tlsServername?: string): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let connected = false
    let done = false
    let socket: Socket
    const finish = (error: (Error & { code?: string }) | null) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ connected, error, data: Buffer.concat(chunks) })
    }
    const timer = setTimeout(() => finish(Object.assign(new Error(connected ? 'no complete answer in time' : 'connection timed out'), { code: connected ? 'ANSWER_TIMEOUT' : 'ETIMEDOUT' })), timeoutMs)
    const onUp = () => {
      connected = true
      socket.write(request)
    }
    if (tlsServername === undefined) {
      socket = netConnect({ host: hp.host, port: hp.port }, onUp)
    } else {
      // Reachability, not trust, is measured: the certificate is not verified (nothing is sent
      // that matters, and toolgate's minted certificate would not verify either).
      socket = tlsConnect({ host: hp.host, port: hp.port, servername: tlsServername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, onUp)
    }
    socket.on('data', (b: Buffer) => {
      chunks.push(b)
      size += b.length
      if (size >= MAX_RESPONSE) finish(null)
    })
    socket.on('end', () => finish(null))
    socket.on('close', () => finish(null))
    socket.on('error', (e: Error & { code?: string }) => finish(e))
  })
}

/** Verdict of a plain-TCP HTTP exchange (the rule in the file comment). */
function tcpVerdict(probe: string, hp: HostPort, x: Exchange): ProbeResult {
  const target = targetOf(hp)
  if (!x.connected) {
    // Refused, unreachable or timed out before the handshake: nothing reached the destination.
    const code = x.error?.code ?? 'closed'
    const why = NEVER_CONNECTED.has(code) ? code : `${code}: ${x.error?.message ?? 'closed before connecting'}`
    return { probe, target, verdict: 'blocked', detail: `no connection (${why})` }
  }
  const res = parseResponse(x.data)
  if (res && isToolgateRefusal(res.status, res.body)) {
    return { probe, target, verdict: 'blocked', detail: `toolgate refused it (${res.status} ${oneLine(res.body)})` }
  }
  if (res) return { probe, target, verdict: 'open', detail: `reached a server that answered ${res.status}` }
  if (x.data.length > 0) return { probe, target, verdict: 'open', detail: `reached a server that answered ${x.data.length} bytes that are not HTTP` }
  return { probe, target, verdict: 'open', detail: `connected, and the peer ${x.error ? `failed (${x.error.code ?? x.error.message})` : 'closed'} without a toolgate refusal` }
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim()
  return t.length > 160 ? `${t.slice(0, 160)}…` : t
}

function httpRequest(hostHeader: string, path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: toolgate-selftest\r\nAccept: */*\r\nConnection: close\r\n\r\n`
}

/** HTTP straight to the canary, by name (resolved to the given family) or literal. */
export async function probeDirect(probe: string, family: 4 | 6, canary: HostPort, timeoutMs: number): Promise<ProbeResult> {
  let address = canary.host
  if (isIP(address) === 0) {
    try {
      address = (await lookup(canary.host, { family })).address
    } catch (e) {
      return { probe, target: targetOf(canary), verdict: 'blocked', detail: `no IPv${family} address for ${canary.host} (${(e as { code?: string }).code ?? (e as Error).message})` }
    }
  } else if (isIP(address) !== family) {
    return { probe, target: targetOf(canary), verdict: 'unknown', detail: `${address} is not an IPv${family} address` }
  }
  const hp = { host: address, port: canary.port }
  const hostHeader = isIP(canary.host) === 6 ? `[${canary.host}]` : canary.host
  const x = await exchange(hp, httpRequest(canary.port === 80 ? hostHeader : `${hostHeader}:${canary.port}`, '/'), timeoutMs)
  const r = tcpVerdict(probe, hp, x)
  return canary.host === address ? r : { ...r, target: `${canary.host} (${r.target})` }
}

/** TCP to an IP literal on a port that is not HTTP's or HTTPS's. */
export async function probeRawIp(target: HostPort, timeoutMs: number): Promise<ProbeResult> {
  if (isIP(target.host) === 0) return { probe: 'raw-ip', target: targetOf(target), verdict: 'unknown', detail: 'the raw-IP probe needs an IP address' }
  const hostHeader = isIP(target.host) === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`
  return tcpVerdict('raw-ip', target, await exchange(target, httpRequest(hostHeader, '/'), timeoutMs))
}

/**
 * A QUIC-shaped datagram to UDP 443: a long-header packet with a reserved version (0x?a?a?a?a,
 * RFC 9000 §15), padded to 1200 bytes, which any QUIC server answers with Version Negotiation.
 * Any datagram back: open. An ICMP error (the socket reports ECONNREFUSED etc.): blocked. Silence:
 * unknown (the canary may simply not speak UDP).
 */
export function probeUdp(target: HostPort, timeoutMs: number): Promise<ProbeResult> {
  const family = isIP(target.host)
  const base = { probe: 'udp-443', target: targetOf(target) }
  if (family === 0) return Promise.resolve({ ...base, verdict: 'unknown', detail: 'the UDP probe needs an IP address' })
  return new Promise((resolve) => {
    const sock = createSocket(family === 6 ? 'udp6' : 'udp4')
    let done = false
    const finish = (r: ProbeResult) => {
      if (done) return
      done = true
      clearTimeout(timer)
      try { sock.close() } catch { /* already closed */ }
      resolve(r)
    }
    const timer = setTimeout(() => finish({ ...base, verdict: 'unknown', detail: `no answer in ${timeoutMs} ms (sent; nothing proves it was dropped)` }), timeoutMs)
    sock.on('error', (e: Error & { code?: string }) => finish({ ...base, verdict: 'blocked', detail: `refused (${e.code ?? e.message})` }))
    sock.on('message', (m: Buffer) => finish({ ...base, verdict: 'open', detail: `a ${m.length}-byte datagram came back` }))
    const packet = Buffer.alloc(1200)
    packet[0] = 0xc0 // long header, Initial
    packet.writeUInt32BE(0x1a2a3a4a, 1) // reserved version: forces Version Negotiation
    packet[5] = 8 // destination connection id length
    for (let i = 6; i < 14; i++) packet[i] = (Math.random() * 256) | 0
    packet[14] = 0 // source connection id length
    sock.connect(target.port, target.host, () => {
      sock.send(packet, (e) => {
        if (e) finish({ ...base, verdict: 'blocked', detail: `send failed (${(e as { code?: string }).code ?? e.message})` })
      })
    })
  })
}

/**
 * The control API without credentials: an unauthenticated POST of an empty task. 401/403 (refused)
 * and 404/405 (not served there) or no connection: blocked. Anything else — created or even a
 * validation error — means an unauthenticated caller reached the task API: open.
 */
export async function probeControl(url: URL, timeoutMs: number): Promise<ProbeResult> {
  const base = { probe: 'control-api', target: url.href }
  if (url.protocol !== 'http:') return { ...base, verdict: 'unknown', detail: 'only http:// control URLs are probed' }
  const hp = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) }
  const body = '{}'
  const req = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`
  const x = await exchange(hp, req, timeoutMs)
  if (!x.connected) return { ...base, verdict: 'blocked', detail: `no connection (${x.error?.code ?? 'closed'})` }
  const res = parseResponse(x.data)
  if (!res) return { ...base, verdict: 'unknown', detail: 'connected, but the answer was not HTTP' }
  if ([401, 403, 404, 405].includes(res.status)) return { ...base, verdict: 'blocked', detail: `refused without credentials (${res.status})` }
  return { ...base, verdict: 'open', detail: `an unauthenticated task request got ${res.status}` }
}

/** The DNS wire-format query for `name` (type A), base64url, as RFC 8484 GET sends it. */
export function dohQuery(name: string): string {
  const labels = name.split('.').filter((l) => l !== '')
  const q = Buffer.concat([
    Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), // id 0, RD, one question
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])),
    Buffer.from([0, 0, 1, 0, 1]), // root, type A, class IN
  ])
  return q.toString('base64url')
}

/**
 * DNS-over-HTTPS straight to a resolver (a name lookup that no DNS policy sees). A TLS handshake
 * that never completes (toolgate's transparent TLS listener drops unknown SNI) or a toolgate
 * refusal: blocked; any HTTP answer from the resolver: open.
 */
export async function probeDoh(url: URL, address: string | null, timeoutMs: number): Promise<ProbeResult> {
  const base = { probe: 'doh', target: url.href }
  if (url.protocol !== 'https:') return { ...base, verdict: 'unknown', detail: 'the DoH endpoint must be an https:// URL' }
  let host = address ?? url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) === 0) {
    try {
      host = (await lookup(host)).address
    } catch (e) {
      return { ...base, verdict: 'blocked', detail: `cannot resolve ${url.hostname} (${(e as { code?: string }).code ?? (e as Error).message})` }
    }
  }
  const hp = { host, port: Number(url.port || 443) }
  const path = `${url.pathname}?dns=${dohQuery('example.com')}`
  const req = `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: application/dns-message\r\nConnection: close\r\n\r\n`
  const sni = isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 ? url.hostname : undefined
  const x = await exchange(hp, req, timeoutMs, sni ?? '')
  if (!x.connected) return { ...base, verdict: 'blocked', detail: `no TLS session (${x.error?.code ?? 'closed'}: ${x.error?.message ?? 'closed before the handshake completed'})` }
  const res = parseResponse(x.data)
  if (res && isToolgateRefusal(res.status, res.body)) return { ...base, verdict: 'blocked', detail: `toolgate refused it (${res.status})` }
  if (res) return { ...base, verdict: 'open', detail: `the resolver answered ${res.status}` }
  return { ...base, verdict: 'open', detail: 'a TLS session with the resolver was established' }
}
