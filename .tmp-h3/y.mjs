import { parseAllDocuments, LineCounter } from 'yaml'
const lc = new LineCounter()
const text = `a: 1\na: 2\nb: &x [1, 2]\nc: *x\nd: !foo bar\ne: {x: 1\n---\nz: 1\n`
const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false, merge: true })
console.log(Array.isArray(docs), docs.length)
for (const d of docs) { console.log(d.range, d.errors.map(e => [e.code, e.message, e.pos, lc.linePos(e.pos[0])]), d.warnings.map(e => [e.code, e.message, e.pos])) }
const bomb = `a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`
const bd = parseAllDocuments(bomb, {})[0]
try { bd.toJS({ maxAliasCount: 50 }) } catch (e) { console.log(e.constructor.name, e.message) }
console.log(parseAllDocuments('', {}) , parseAllDocuments('# c\n', {}).length)
