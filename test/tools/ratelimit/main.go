// The Envoy rate limit service (github.com/envoyproxy/ratelimit, pinned in go.mod) for toolgate's
// global rate limit test: its own main, unchanged. Configured by environment variables and a
// config directory (see test/ratelimit/helpers/ratelimit-service.ts); backed by Redis.
package main

import (
	"github.com/envoyproxy/ratelimit/src/service_cmd/runner"
	"github.com/envoyproxy/ratelimit/src/settings"
)

func main() {
	r := runner.NewRunner(settings.NewSettings())
	r.Run()
}
