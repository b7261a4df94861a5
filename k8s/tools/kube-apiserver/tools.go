//go:build tools

// Package tools pins what this wrapper module builds, so `go mod tidy` keeps exactly their
// dependencies: kube-apiserver for the API-server tests, the kubelet and kube-controller-manager
// (its Job controller) for the live-node tests (test/k8s/node.ts, live.test.ts). The build tag
// keeps it out of every build; scripts/prepare-kube.js builds the commands by package path.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
