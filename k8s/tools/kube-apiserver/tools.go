//go:build tools

// Package tools pins what this wrapper module builds, so `go mod tidy` keeps exactly their
// dependencies: kube-apiserver for the API-server tests and the kubelet for the live-node tests
// (test/k8s/node.ts). The build tag keeps it out of every build; scripts/prepare-kube.js builds the
// two commands by package path.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
