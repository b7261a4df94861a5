// DNS resolution for upstream connections, with the destination check applied to the exact
// addresses the socket will use. Passed to undici's connector as `lookup`, so every new upstream
// connection is checked at the moment it is made (no window between check and connect).

import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { checkDestination, type DestinationRules } from '../decide/destination.ts'

/** Thrown through the connector when a destination is refused; forward/ turns it into a 403. */
export class DestinationBlockedError extends Error {
  readonly code = 'TOOLGATE_DESTINATION_BLOCKED'
}

export class ResolveError extends Error {
  readonly code = 'TOOLGATE_RESOLVE_FAILED'
}

export function checkedLookup(rules: DestinationRules): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) {
        callback(new ResolveError(`cannot resolve ${hostname}: ${err.code ?? err.message}`), '', 0)
        return
      }
      // A name that resolves to any refused address is refused as a whole: mixing public and
      // private answers is how DNS rebinding reaches internal services.
      for (const a of addresses) {
        const reason = checkDestination(a.address, rules)
        if (reason !== null) {
          callback(new DestinationBlockedError(`${hostname} resolves to a refused address: ${reason}`), '', 0)
          return
        }
      }
      if (addresses.length === 0) {
        callback(new ResolveError(`cannot resolve ${hostname}: no addresses`), '', 0)
        return
      }
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses)
      else callback(null, addresses[0]!.address, addresses[0]!.family)
    })
  }
}
