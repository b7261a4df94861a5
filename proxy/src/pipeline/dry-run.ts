// The client side of a dry run (`toolgate decide`): a request described in text becomes the same
// IncomingMessage/ServerResponse pair a listener hands the chain, so the dry run goes through the
// very same stages and only its terminal differs (it sends nothing). What the chain answers is
// kept in memory and dropped; the decision is read from the records it writes.

import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { Duplex } from 'node:stream'
import type { TunnelClient } from './tunnel.ts'

export interface DryRequest {
  method: string
  url: string
  /** name, value, name, value, ... as a client would send them. */
  rawHeaders: string[]
  body: Buffer | null
}

export function dryRunExchange(d: DryRequest): { req: IncomingMessage; res: ServerResponse } {
  const req = new IncomingMessage(new Socket())
  req.method = d.method
  req.url = d.url
  req.httpVersion = '1.1'
  req.httpVersionMajor = 1
  req.httpVersionMinor = 1
  const raw = [...d.rawHeaders]
  const named = (n: string): boolean => raw.some((v, i) => i % 2 === 0 && v.toLowerCase() === n)
  if (d.body !== null && !named('content-length') && !named('transfer-encoding')) raw.push('content-length', String(d.body.length))
  req.rawHeaders = raw
  // As Node's parser fills it for the headers the chain reads (the first of a repeated header).
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    if (req.headers[name] === undefined) req.headers[name] = raw[i + 1]!
  }
  if (d.body !== null && d.body.length > 0) req.push(d.body)
  req.push(null)
  const res = new ServerResponse(req)
  return { req, res }
}

/** A tunnel client that answers nothing and never connects. */
export function dryRunTunnelClient(): TunnelClient {
  const socket = new Duplex({ read() {}, write(_c, _e, cb) { cb() } })
  return { socket, firstBytes: Buffer.alloc(0), refuse: () => {}, established: () => {}, intercept: () => {}, onClose: () => {} }
}
