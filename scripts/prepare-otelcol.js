// Builds a minimal OpenTelemetry Collector (OTLP receiver + file exporter; test/tools/otelcol,
// versions pinned in its go.mod) from the Go module proxy, caches it per machine and places it at
// <repo>/.cache/bin/otelcol for the telemetry tests (test/telemetry).
import { buildGoTool } from '../k8s/tools/build-go-tool.js'

buildGoTool({
  label: 'prepare-otelcol',
  name: 'otelcol',
  module: 'otelcol',
  dir: 'test/tools/otelcol',
  pinned: 'go.opentelemetry.io/collector/otelcol',
  pkg: '.',
  versionArgs: ['--version'],
})
