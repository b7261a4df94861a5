// Builds Stripe's Go egress proxy Smokescreen (github.com/stripe/smokescreen, pinned as a `tool`
// in bench/tools/smokescreen/go.mod) from the Go module proxy, caches it per machine and places it
// at <repo>/.cache/bin/smokescreen for the benchmark suite's one-core comparison (issue 19).
// Bench-only: `npm run bench` runs this lazily when the scenario starts; `npm test` runs only
// scripts/prepare-*.js, and this file's name keeps it out of that list, so
// the cold test budget is untouched. Smokescreen has a --version flag.
import { buildGoTool } from '../k8s/tools/build-go-tool.js'

buildGoTool({
  label: 'bench-prepare-smokescreen',
  name: 'smokescreen',
  module: 'smokescreen',
  dir: 'bench/tools/smokescreen',
  pinned: 'github.com/stripe/smokescreen',
  pkg: 'github.com/stripe/smokescreen',
  versionArgs: ['--version'],
})
