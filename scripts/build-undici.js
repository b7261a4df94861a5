// What `npm run build` bundles in place of `undici`'s index: the dispatchers toolgate uses and the
// request() helper, without fetch, WebSocket, EventSource, the cache and cookie APIs and the mock
// agents that the index loads too (~600 KB of the bundle and ~20 ms of every start). The sources
// keep importing 'undici' itself; only dist/ goes through this file.
//
// The exports are named (ESM), so a new `import { X } from 'undici'` in proxy/src that is not
// listed here fails the build with "No matching export" instead of being undefined at run time:
// add X below, from the undici module index.js takes it from.
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js'
import Client from 'undici/lib/dispatcher/client.js'
import Pool from 'undici/lib/dispatcher/pool.js'
import Agent from 'undici/lib/dispatcher/agent.js'
import api from 'undici/lib/api/index.js'
import errors from 'undici/lib/core/errors.js'
import util from 'undici/lib/core/util.js'
import globalDispatcher from 'undici/lib/global.js'
import buildConnector from 'undici/lib/core/connect.js'

// As index.js does: request(), stream(), pipeline(), upgrade() and connect() on every dispatcher.
Object.assign(Dispatcher.prototype, api)

// index.js's makeDispatcher (undici 8), which turns api.request into the top-level request(url, opts).
function makeDispatcher(fn) {
  return (url, opts, handler) => {
    if (typeof opts === 'function') {
      handler = opts
      opts = null
    }
    if (!url || (typeof url !== 'string' && typeof url !== 'object' && !(url instanceof URL))) {
      throw new errors.InvalidArgumentError('invalid url')
    }
    if (opts != null && typeof opts !== 'object') {
      throw new errors.InvalidArgumentError('invalid opts')
    }
    if (opts && opts.path != null) {
      if (typeof opts.path !== 'string') {
        throw new errors.InvalidArgumentError('invalid opts.path')
      }
      let path = opts.path
      if (!opts.path.startsWith('/')) {
        path = `/${path}`
      }
      url = new URL(util.parseOrigin(url).origin + path)
    } else {
      if (!opts) {
        opts = typeof url === 'object' ? url : {}
      }
      url = util.parseURL(url)
    }
    const { agent, dispatcher = globalDispatcher.getGlobalDispatcher(), ...restOpts } = opts
    if (agent) {
      throw new errors.InvalidArgumentError('unsupported opts.agent. Did you mean opts.client?')
    }
    return fn.call(dispatcher, {
      ...restOpts,
      origin: url.origin,
      path: url.search ? `${url.pathname}${url.search}` : url.pathname,
      method: opts.method || (opts.body ? 'PUT' : 'GET'),
    }, handler)
  }
}

export const request = makeDispatcher(api.request)
export { Agent, Client, Dispatcher, Pool, buildConnector, errors }
