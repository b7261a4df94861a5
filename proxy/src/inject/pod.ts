// The slice of the Kubernetes core/v1 Pod shape the injector reads and writes. Everything else is
// carried through untouched as unknown fields (the index signatures), so a field this type does not
// name is never dropped by a mutation.

export interface EnvVar {
  name: string
  value?: string
  valueFrom?: Record<string, unknown>
  [k: string]: unknown
}

export interface VolumeMount {
  name: string
  mountPath: string
  readOnly?: boolean
  subPath?: string
  [k: string]: unknown
}

export interface ResourceRequirements {
  requests?: Record<string, string>
  limits?: Record<string, string>
  [k: string]: unknown
}

export interface Container {
  name: string
  image?: string
  env?: EnvVar[]
  volumeMounts?: VolumeMount[]
  restartPolicy?: string
  resources?: ResourceRequirements
  [k: string]: unknown
}

export interface Volume {
  name: string
  secret?: { secretName?: string; [k: string]: unknown }
  configMap?: { name?: string; [k: string]: unknown }
  projected?: { sources?: Array<Record<string, unknown>>; [k: string]: unknown }
  [k: string]: unknown
}

export interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  volumes?: Volume[]
  automountServiceAccountToken?: boolean
  serviceAccountName?: string
  hostNetwork?: boolean
  [k: string]: unknown
}

export interface ObjectMeta {
  name?: string
  generateName?: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  [k: string]: unknown
}

export interface Pod {
  apiVersion?: string
  kind?: string
  metadata?: ObjectMeta
  spec: PodSpec
  [k: string]: unknown
}

/** RFC 6902 operations the injector emits (it only ever adds or replaces whole fields). */
export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string }
