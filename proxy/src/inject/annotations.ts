// The annotation (and label) names the injector reads and writes on pods. One place, so the
// docs, chart and tests agree on the spelling.

export const ANNOTATION = {
  /** Written by the injector: JSON {version, mode, config, sidecar}. Its presence makes injection a no-op. */
  status: 'toolgate.dev/status',
  /** Per pod: ConfigMap (same namespace) with toolgate.yaml. */
  config: 'toolgate.dev/config',
  /** Per pod: 'proxy' or 'transparent'. */
  mode: 'toolgate.dev/mode',
  /** Per pod: extra comma-separated Secret names mounted into the sidecar only. */
  credentialSecrets: 'toolgate.dev/credential-secrets',
  /** Per pod: sidecar resources (Kubernetes quantities). */
  cpuRequest: 'toolgate.dev/proxy-cpu',
  memoryRequest: 'toolgate.dev/proxy-memory',
  cpuLimit: 'toolgate.dev/proxy-cpu-limit',
  memoryLimit: 'toolgate.dev/proxy-memory-limit',
} as const

/** Names of everything the injector adds; agent containers never mount these (except the CA). */
export const OWNED = {
  sidecar: 'toolgate',
  iptablesInit: 'toolgate-init',
  caVolume: 'toolgate-ca',
  configVolume: 'toolgate-config',
  policyVolume: 'toolgate-policy',
  tokenVolume: 'toolgate-token',
  tmpVolume: 'toolgate-tmp',
  credentialVolumePrefix: 'toolgate-cred-',
} as const

export const STATUS_VERSION = 1
