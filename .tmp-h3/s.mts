import { parseYaml } from '../proxy/src/config/yaml-source.ts'
import { schemaErrors } from '../proxy/src/config/schema-check.ts'
import { formatConfigErrors } from '../proxy/src/config/errors.ts'
const text = `version: 2
mode: enforc
listners: {}
credentials:
  gh: { type: statik, secret_file: x }
  Bad: { type: static }
  ok: { type: jwt, issuer: "", ttl: 3 }
tools:
  - name: GitHub
    match: { hots: x }
    routes:
      - { methods: [get], path: "/x" }
      - path: y
    labels: { "bad key": x }
    base_url: "not a url"
    passthrough: "yes"
`
const r = parseYaml(text, 'f.yaml')
if (!r.ok) { console.log(r.errors) } else console.log(formatConfigErrors(schemaErrors(r.parsed, 'f.yaml')))
