// nginx (Debian package) as a plain reverse proxy with no policy: the reference for "what does a
// mature proxy cost". One worker process, because toolgate is one Node process (one event loop)
// and the machine has 2 cores shared with the load generator and the upstream; the run records
// the worker count so a reader can compare like with like.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { freePort, waitForHttp } from './ports.ts'
import { track } from './processes.ts'

export const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']

export function findNginx(): string | null {
  return NGINX_CANDIDATES.find((p) => existsSync(p)) ?? null
}

export interface NginxProcess { proc: ChildProcess; pid: number; port: number; workers: number; stop(): Promise<void> }

export async function startNginx(binary: string, dir: string, upstreamPort: number, workers = 1): Promise<NginxProcess> {
  const port = await freePort()
  const root = join(dir, 'nginx')
  mkdirSync(join(root, 'tmp'), { recursive: true })
  const conf = join(root, 'nginx.conf')
  writeFileSync(conf, `worker_processes ${workers};
daemon off;
pid ${root}/nginx.pid;
error_log ${root}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${root}/tmp/body;
  proxy_temp_path ${root}/tmp/proxy;
  upstream bench { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location /t/bench/ {
      proxy_pass http://bench/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:${upstreamPort};
    }
  }
}
`)
  const proc = spawn(binary, ['-p', root, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  track(proc)
  let stderr = ''
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  const failed = once(proc, 'exit').then(([code]) => { throw new Error(`nginx exited ${code}: ${stderr.slice(-500)}`) })
  failed.catch(() => {}) // handled here: it only matters while racing the start below
  try {
    await Promise.race([waitForHttp(`http://127.0.0.1:${port}/t/bench/v1/items/1`, 10_000), failed])
  } catch (err) {
    proc.kill('SIGKILL')
    throw err
  }
  return {
    proc, pid: proc.pid!, port, workers,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = once(proc, 'exit')
      proc.kill('SIGQUIT') // graceful shutdown of master and workers
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}
