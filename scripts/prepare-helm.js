// Builds the Helm v3 CLI (pinned in k8s/tools/helm/go.mod) from the Go module proxy, caches it per
// machine and places it at <repo>/.cache/bin/helm for the chart tests (test/k8s).
import { buildGoTool } from '../k8s/tools/build-go-tool.js'

buildGoTool({
  label: 'prepare-helm',
  name: 'helm',
  module: 'helm',
  pinned: 'helm.sh/helm/v3',
  pkg: 'helm.sh/helm/v3/cmd/helm',
  versionArgs: ['version', '--short'],
  // Helm's own release build stamps the full version (the source default is only 'v3.22').
  ldflagsX: (version) => [`helm.sh/helm/v3/internal/version.version=${version}`],
})
