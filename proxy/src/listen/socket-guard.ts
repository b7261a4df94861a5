// Every socket toolgate accepts gets an 'error' listener the moment it is accepted, for its whole
// life. Node's HTTP server handles a socket's errors only while its parser owns the socket: once
// a request is upgraded (or a CONNECT tunnel opened) that listener is removed, and a client that
// then resets the connection raised an unhandled 'error' that ended the process. Attaching ours
// at accept time covers every later state (upgraded, tunnelled, handed to TLS) in one place.

import type { Duplex } from 'node:stream'

const guarded = new WeakSet<Duplex>()

/** Makes an error on `socket` destroy it instead of ending the process. Idempotent. */
export function guardSocket(socket: Duplex): void {
  if (guarded.has(socket)) return
  guarded.add(socket)
  socket.on('error', () => { socket.destroy() })
}

/**
 * Bounds a connection that no HTTP parser watches any more (an upgraded or tunnelled one): it is
 * destroyed after `idleMs` without traffic either way. Setting a socket timeout replaces any
 * earlier one (http-proxy clears it to 0 for WebSockets), so this is called after the handover.
 */
export function idleBound(socket: Duplex & { setTimeout?: (ms: number, cb?: () => void) => unknown }, idleMs: number): void {
  guardSocket(socket)
  if (typeof socket.setTimeout !== 'function') return
  socket.setTimeout(idleMs)
  socket.on('timeout', () => socket.destroy())
}
