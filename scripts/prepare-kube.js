// Builds etcd, kube-apiserver, kube-controller-manager and the kubelet (pinned in
// k8s/tools/{etcd,kube-apiserver}/go.mod; the last three come from one wrapper module, so they
// share one Kubernetes version and one dependency set; the controller manager runs only the Job
// controller in the live-node test) from the Go module proxy, and the pod sandbox's `pause` binary
// from the same Kubernetes module's C source. All are cached per machine and placed at
// <repo>/.cache/bin for the real API server test (test/k8s/apiserver.test.ts) and the live-node
// test (test/k8s/live.test.ts). kube-apiserver is the slow one (~10-20 min cold on two cores); the
// others reuse most of its compiled packages and add minutes; later runs only compare hashes.
import { spawnSync } from 'node:child_process'
import { buildGoTool, buildCTool } from '../k8s/tools/build-go-tool.js'

buildGoTool({
  label: 'prepare-kube',
  name: 'etcd',
  module: 'etcd',
  pinned: 'go.etcd.io/etcd/server/v3',
  pkg: '.',
  versionArgs: ['--version'],
})
// What Kubernetes' own build (hack/lib/version.sh) stamps in: without it the server reports
// v0.0.0-master, which fails Helm's kubeVersion check and confuses version-dependent clients.
const kubeVersionStamp = (version) => {
  const [major, minor] = version.replace(/^v/, '').split('.')
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((p) => [
    `${p}.gitVersion=${version}`, `${p}.gitMajor=${major}`, `${p}.gitMinor=${minor}`, `${p}.gitTreeState=clean`,
  ])
}
for (const name of ['kube-apiserver', 'kube-controller-manager', 'kubelet']) {
  buildGoTool({
    label: 'prepare-kube',
    name,
    module: 'kube-apiserver',
    pinned: 'k8s.io/kubernetes',
    pkg: `k8s.io/kubernetes/cmd/${name}`,
    versionArgs: ['--version'],
    ldflagsX: kubeVersionStamp,
  })
}

// The sandbox ("pause") container's only binary, from build/pause/linux/pause.c of the pinned
// Kubernetes module (already in the module cache from the builds above), linked statically so the
// image needs nothing else. Needs gcc and the static C library (Debian: gcc, libc6-dev).
const modDir = spawnSync('go', ['list', '-m', '-f', '{{.Dir}}', 'k8s.io/kubernetes'], {
  cwd: new URL('../k8s/tools/kube-apiserver', import.meta.url), encoding: 'utf8',
})
if (modDir.status !== 0) {
  console.error(`prepare-kube: go list -m k8s.io/kubernetes failed: ${modDir.stderr}`)
  process.exit(1)
}
buildCTool({
  label: 'prepare-kube',
  name: 'pause',
  source: `${modDir.stdout.trim()}/build/pause/linux/pause.c`,
  flags: ['-Os', '-static', '-Wall', '-Werror', '-DVERSION=toolgate-test'],
  versionArgs: ['-v'],
})
