// Builds etcd and kube-apiserver (pinned in k8s/tools/{etcd,kube-apiserver}/go.mod) from the Go
// module proxy, caches them per machine and places them at <repo>/.cache/bin for the real API
// server test (test/k8s/apiserver.test.ts). kube-apiserver is the slow one (~10-20 min cold on
// two cores); later runs only compare hashes.
import { buildGoTool } from '../k8s/tools/build-go-tool.js'

buildGoTool({
  label: 'prepare-kube',
  name: 'etcd',
  module: 'etcd',
  pinned: 'go.etcd.io/etcd/server/v3',
  pkg: '.',
  versionArgs: ['--version'],
})
buildGoTool({
  label: 'prepare-kube',
  name: 'kube-apiserver',
  module: 'kube-apiserver',
  pinned: 'k8s.io/kubernetes',
  pkg: 'k8s.io/kubernetes/cmd/kube-apiserver',
  versionArgs: ['--version'],
  // What Kubernetes' own build (hack/lib/version.sh) stamps in: without it the server reports
  // v0.0.0-master, which fails Helm's kubeVersion check and confuses version-dependent clients.
  ldflagsX: (version) => {
    const [major, minor] = version.replace(/^v/, '').split('.')
    return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((p) => [
      `${p}.gitVersion=${version}`, `${p}.gitMajor=${major}`, `${p}.gitMinor=${minor}`, `${p}.gitTreeState=clean`,
    ])
  },
})
