// Replaces the text between a BEGIN and an END marker of a docs page with generated text, or with
// `check` set, exits 1 when the page is stale. Shared by the generators of docs tables
// (gen-config-docs.js, gen-metrics-docs.js) so a page can never drift from its source.
import { readFile, writeFile } from 'node:fs/promises'

/**
 * @param {{ docPath: string, begin: string, end: string, text: string, check: boolean, regenerate: string }} o
 *   regenerate: the command that rewrites the page (named in the error).
 */
export async function writeGeneratedSection({ docPath, begin, end, text, check, regenerate }) {
  const current = await readFile(docPath, 'utf8')
  const start = current.indexOf(begin)
  const stop = current.indexOf(end)
  if (start < 0 || stop < start) {
    console.error(`${docPath} lacks the ${begin} / ${end} markers`)
    process.exit(1)
  }
  const next = `${current.slice(0, start + begin.length)}\n${text}\n${current.slice(stop)}`
  if (next === current) return
  if (check) {
    console.error(`${docPath} is stale: run ${regenerate}`)
    process.exit(1)
  }
  await writeFile(docPath, next)
}
