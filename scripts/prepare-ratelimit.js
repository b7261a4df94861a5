// Builds the Envoy rate limit service (github.com/envoyproxy/ratelimit, pinned in
// test/tools/ratelimit/go.mod) from the Go module proxy, caches it per machine and places it at
// <repo>/.cache/bin/ratelimit for the global rate limit test (test/ratelimit). The service has no
// version flag (it starts serving), so the sanity run is skipped.
import { buildGoTool } from '../k8s/tools/build-go-tool.js'

buildGoTool({
  label: 'prepare-ratelimit',
  name: 'ratelimit',
  module: 'ratelimit',
  dir: 'test/tools/ratelimit',
  pinned: 'github.com/envoyproxy/ratelimit',
  pkg: '.',
  versionArgs: null,
})
