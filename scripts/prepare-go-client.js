// Builds the Go net/http client of the client matrix (test/clients/go-client, standard library
// only) with the shared Go tool builder (k8s/tools/build-go-tool.js): cached per machine, keyed by
// its sources and the Go version, copied to <repo>/.cache/bin/go-http-client. Cold build: ~2-3 s.
import { buildGoTool } from '../k8s/tools/build-go-tool.js'

buildGoTool({ label: 'prepare-go-client', name: 'go-http-client', module: 'go-client', dir: 'test/clients/go-client', pinned: null, pkg: '.', versionArgs: null })
