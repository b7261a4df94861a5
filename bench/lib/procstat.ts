// Process CPU time and memory from /proc (Linux), for "CPU per request" and "RSS under load".
// A server may be several processes (nginx master + workers, a proxy + its PDP), so everything
// here takes a list of root pids and includes their descendants.
import { readFileSync, readdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

/** Kernel clock ticks per second (utime/stime unit), from getconf; 100 on nearly every Linux. */
export const CLK_TCK: number = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 }
})()

interface Stat { pid: number; ppid: number; cpuTicks: number }

function readStat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { pid, ppid: Number(rest[1]), cpuTicks: Number(rest[11]) + Number(rest[12]) }
  } catch {
    return null
  }
}

/** The pids and all their live descendants. */
export function withDescendants(roots: number[]): number[] {
  const all: Stat[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = readStat(Number(name))
    if (s) all.push(s)
  }
  const out = new Set(roots)
  let grew = true
  while (grew) {
    grew = false
    for (const s of all) if (!out.has(s.pid) && out.has(s.ppid)) { out.add(s.pid); grew = true }
  }
  return [...out]
}

/** CPU seconds (user + system) used so far by these processes. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0
  for (const pid of pids) ticks += readStat(pid)?.cpuTicks ?? 0
  return ticks / CLK_TCK
}

/** Summed RSS of these processes, in MiB. */
export function rssMiBOf(pids: number[]): number {
  let kb = 0
  for (const pid of pids) {
    try { kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) } catch { /* exited */ }
  }
  return kb / 1024
}

/** Samples the summed RSS every `everyMs` until stopped; returns the peak. */
export function sampleRss(pids: number[], everyMs = 200): { stop(): number } {
  let peak = rssMiBOf(pids)
  const timer = setInterval(() => { peak = Math.max(peak, rssMiBOf(pids)) }, everyMs)
  return { stop: () => { clearInterval(timer); return Math.max(peak, rssMiBOf(pids)) } }
}
