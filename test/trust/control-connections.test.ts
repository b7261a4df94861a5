// The agent shares the pod's loopback with the control listener. Found by the red team: with one
// shared connection cap, 300 half-sent requests from loopback made the orchestrator's DELETE of
// the agent's task fail, so the agent could keep its task alive and keep approvers from
// answering. Callers from inside the pod now have a budget of their own.
//
// Everything here is loopback, so "outside the pod" is played by the source address 127.0.0.2,
// which the test's origin rule calls remote (the real rule calls every 127/8 address the pod's;
// it is checked on its own below). The server, the sockets and the HTTP exchange are real.
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { request } from 'node:http'
import { networkInterfaces } from 'node:os'
import type { AddressInfo } from 'node:net'
import { createControlServer, connectionOrigin, CONTROL_CONNECTIONS, type ConnectionOrigin } from '../../proxy/src/admin/control-server.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'

function del(port: number, localAddress: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, localAddress, method: 'DELETE', path: '/v1/tasks/t1', agent: false, timeout: 3000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
    req.end()
  })
}

t.test('a loopback flood of half-sent requests cannot lock the issuer out of the control API', async (t) => {
  const origin = (a: string | undefined): ConnectionOrigin => (a === '127.0.0.2' || a === '::ffff:127.0.0.2' ? 'remote' : 'pod')
  // The route stands in for the task API: this test is about who gets a connection at all.
  const server = createControlServer({ logger: silentLogger, origin, routes: () => [async (req, res) => { req.resume(); res.writeHead(200).end('{}'); return true }] })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const flood: Socket[] = []
  t.teardown(() => { for (const s of flood) s.destroy(); server.closeAllConnections(); server.close() })

  // The agent: far more connections than its budget, each stuck in the middle of its headers.
  const accepted = await Promise.all(Array.from({ length: 300 }, () => new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' })
    flood.push(s)
    s.on('error', () => resolve(false))
    s.on('close', () => resolve(false))
    s.on('connect', () => { s.write('POST /v1/tasks HTTP/1.1\r\nHost: control\r\nX-Slow: ') ; setTimeout(() => resolve(!s.destroyed), 300) })
  })))
  const open = accepted.filter(Boolean).length
  t.ok(open <= CONTROL_CONNECTIONS.pod, `the pod's callers hold at most their budget (${open} of 300 stayed open)`)
  t.ok(open > 0, 'the flood did get connections (the budget is not zero)')

  t.equal(await del(port, '127.0.0.2'), 200, 'the issuer outside the pod still ends the task')
  t.not(await del(port, '127.0.0.1'), 200, 'another caller from inside the pod waits behind the flood')

  // Once the flood is gone, the pod's budget is free again.
  for (const s of flood) s.destroy()
  await new Promise((r) => setTimeout(r, 100))
  t.equal(await del(port, '127.0.0.1'), 200, 'the budget is returned when connections close')
})

t.test('which peers count as inside the pod', async (t) => {
  for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1', undefined]) t.equal(connectionOrigin(a), 'pod', `${a}`)
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) t.equal(connectionOrigin(i.address.split('%')[0]), 'pod', `own interface address ${i.address}`)
  }
  for (const a of ['203.0.113.5', '2001:db8::5', '::ffff:203.0.113.5']) t.equal(connectionOrigin(a), 'remote', a)
})
