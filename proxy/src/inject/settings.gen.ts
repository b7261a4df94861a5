// GENERATED from config/injector-settings.schema.json by scripts/gen-injector-settings.js. Do not edit.
/* eslint-disable */
export type Port = number

/**
 * What `toolgate inject` adds to an opted-in pod. The chart renders these into a ConfigMap read with --settings. Every field has a default (an empty file is a working proxy-variable setup); unknown fields are an error.
 */
export interface InjectorSettings {
  /**
   * Sidecar image (entrypoint: the toolgate binary).
   */
  image: string
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never'
  /**
   * true: init container with restartPolicy Always (Kubernetes >= 1.29); false: a regular container.
   */
  nativeSidecar: boolean
  /**
   * Default interception mode; the annotation toolgate.dev/mode overrides it per pod.
   */
  mode: 'proxy' | 'transparent'
  optIn: {
    /**
     * Namespace label whose value namespaceValue opts every pod of the namespace in.
     */
    namespaceLabel: string
    namespaceValue: string
    /**
     * Pod label (and annotation of the same name) whose value true opts in and false opts out.
     */
    podLabel: string
    /**
     * Honour the pod annotation podLabel: "true" as opt-in (needs the webhook to see all pods).
     */
    annotation: boolean
  }
  /**
   * Namespaces never injected (the injector's own is added by the command).
   */
  skipNamespaces: string[]
  /**
   * Label that marks the injector's own pods; they are never injected.
   */
  injectorLabel: {
    key: string
    value: string
  }
  config: {
    /**
     * ConfigMap (in the pod's namespace) holding toolgate.yaml; annotation toolgate.dev/config overrides.
     */
    configMap: string
    key: string
    mountPath: string
  }
  /**
   * ConfigMap (in the pod's namespace) with the policy bundle; '' = the sidecar's embedded bundle. Mount paths are siblings of the config mount, never inside it: a read-only configMap volume cannot hold mount points.
   */
  policyBundle: {
    configMap: string
    mountPath: string
  }
  /**
   * Secrets (in the pod's namespace) mounted only into the sidecar, at mountPath/<name>.
   */
  credentials: {
    secrets: string[]
    mountPath: string
  }
  /**
   * The sidecar's own projected service-account token: its workload identity for token exchange.
   */
  token: {
    audience: string
    expirationSeconds: number
    mountPath: string
  }
  /**
   * The per-pod CA certificate and the trust files beside it, written by the sidecar (its config's tls.ca.publish_cert_to / publish_truststore_to / publish_wgetrc_to must name mountPath/<file>), read-only in agent containers.
   */
  ca: {
    /**
     * Absolute, without spaces or shell/Java-option metacharacters: it is written into JAVA_TOOL_OPTIONS.
     */
    mountPath: string
    file: string
    /**
     * Password-less PKCS#12 truststore (CA + public roots) for Java: JAVA_TOOL_OPTIONS -Djavax.net.ssl.trustStore.
     */
    truststoreFile: string
    /**
     * wgetrc with ca_certificate (WGETRC): wget with GnuTLS ignores SSL_CERT_FILE.
     */
    wgetrcFile: string
  }
  /**
   * health: the sidecar's /healthz + /readyz listener on the pod IP, for the kubelet's httpGet probes (the admin listener is loopback-only, so the kubelet cannot reach it).
   */
  ports: {
    proxy: Port
    admin: Port
    transparentHttp: Port
    transparentTls: Port
    health: Port
  }
  /**
   * UID the sidecar runs as; transparent mode excludes it from the redirect.
   */
  proxyUid: number
  /**
   * redirectAll: TCP to ports other than 80/443 goes to the transparent HTTP listener, which refuses it (without it, only 80 and 443 are intercepted and other ports leave the pod unseen).
   */
  transparent: {
    excludeCidrs: string[]
    excludePorts: Port[]
    redirectAll: boolean
  }
  /**
   * Extra NO_PROXY entries for agent containers (loopback is always there): host names, .domain suffixes, IP literals, CIDRs, or *. Also rendered into Java's http.nonProxyHosts (CIDRs cannot be, so Java sends those through toolgate).
   */
  noProxy: string[]
  resources: {
    requests: Quantities
    limits: Quantities
  }
  /**
   * The sidecar's Node.js memory settings (see SIDECAR_RUNTIME in proxy/src/inject/settings.ts). '' leaves NODE_OPTIONS unset; 0 leaves MALLOC_ARENA_MAX unset (glibc's default).
   */
  runtime: {
    nodeOptions: string
    mallocArenaMax: number
  }
}
export interface Quantities {
  [k: string]: string
}

/** Every setting's default, from the schema. */
export const SETTINGS_DEFAULTS: InjectorSettings = {
  "image": "ghcr.io/toolgate/toolgate:0.1.0",
  "imagePullPolicy": "IfNotPresent",
  "nativeSidecar": true,
  "mode": "transparent",
  "optIn": {
    "namespaceLabel": "toolgate.dev/injection",
    "namespaceValue": "enabled",
    "podLabel": "toolgate.dev/inject",
    "annotation": false
  },
  "skipNamespaces": [
    "kube-system",
    "kube-public",
    "kube-node-lease"
  ],
  "injectorLabel": {
    "key": "toolgate.dev/component",
    "value": "injector"
  },
  "config": {
    "configMap": "toolgate-config",
    "key": "toolgate.yaml",
    "mountPath": "/etc/toolgate"
  },
  "policyBundle": {
    "configMap": "",
    "mountPath": "/etc/toolgate-policy"
  },
  "credentials": {
    "secrets": [],
    "mountPath": "/etc/toolgate-credentials"
  },
  "token": {
    "audience": "toolgate",
    "expirationSeconds": 600,
    "mountPath": "/var/run/secrets/toolgate"
  },
  "ca": {
    "mountPath": "/var/run/toolgate/ca",
    "file": "ca.crt",
    "truststoreFile": "truststore.p12",
    "wgetrcFile": "wgetrc"
  },
  "ports": {
    "proxy": 15001,
    "admin": 15000,
    "transparentHttp": 15002,
    "transparentTls": 15003,
    "health": 15021
  },
  "proxyUid": 15337,
  "transparent": {
    "excludeCidrs": [],
    "excludePorts": [],
    "redirectAll": true
  },
  "noProxy": [],
  "resources": {
    "requests": {
      "cpu": "50m",
      "memory": "64Mi"
    },
    "limits": {
      "memory": "256Mi"
    }
  },
  "runtime": {
    "nodeOptions": "--max-old-space-size=128 --max-semi-space-size=4",
    "mallocArenaMax": 2
  }
}

/** The schema partial settings files are validated with (unknown fields are errors). */
export const SETTINGS_SCHEMA = {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "https://toolgate.dev/schemas/injector-settings.json",
  "title": "InjectorSettings",
  "description": "What `toolgate inject` adds to an opted-in pod. The chart renders these into a ConfigMap read with --settings. Every field has a default (an empty file is a working proxy-variable setup); unknown fields are an error.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "image": {
      "type": "string",
      "minLength": 1,
      "default": "ghcr.io/toolgate/toolgate:0.1.0",
      "description": "Sidecar image (entrypoint: the toolgate binary)."
    },
    "imagePullPolicy": {
      "enum": [
        "Always",
        "IfNotPresent",
        "Never"
      ],
      "default": "IfNotPresent"
    },
    "nativeSidecar": {
      "type": "boolean",
      "default": true,
      "description": "true: init container with restartPolicy Always (Kubernetes >= 1.29); false: a regular container."
    },
    "mode": {
      "enum": [
        "proxy",
        "transparent"
      ],
      "default": "transparent",
      "description": "Default interception mode; the annotation toolgate.dev/mode overrides it per pod."
    },
    "optIn": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "namespaceLabel": {
          "type": "string",
          "minLength": 1,
          "default": "toolgate.dev/injection",
          "description": "Namespace label whose value namespaceValue opts every pod of the namespace in."
        },
        "namespaceValue": {
          "type": "string",
          "minLength": 1,
          "default": "enabled"
        },
        "podLabel": {
          "type": "string",
          "minLength": 1,
          "default": "toolgate.dev/inject",
          "description": "Pod label (and annotation of the same name) whose value true opts in and false opts out."
        },
        "annotation": {
          "type": "boolean",
          "default": false,
          "description": "Honour the pod annotation podLabel: \"true\" as opt-in (needs the webhook to see all pods)."
        }
      }
    },
    "skipNamespaces": {
      "type": "array",
      "items": {
        "type": "string",
        "minLength": 1
      },
      "default": [
        "kube-system",
        "kube-public",
        "kube-node-lease"
      ],
      "description": "Namespaces never injected (the injector's own is added by the command)."
    },
    "injectorLabel": {
      "type": "object",
      "additionalProperties": false,
      "description": "Label that marks the injector's own pods; they are never injected.",
      "properties": {
        "key": {
          "type": "string",
          "minLength": 1,
          "default": "toolgate.dev/component"
        },
        "value": {
          "type": "string",
          "default": "injector"
        }
      }
    },
    "config": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "configMap": {
          "type": "string",
          "minLength": 1,
          "default": "toolgate-config",
          "description": "ConfigMap (in the pod's namespace) holding toolgate.yaml; annotation toolgate.dev/config overrides."
        },
        "key": {
          "type": "string",
          "minLength": 1,
          "default": "toolgate.yaml"
        },
        "mountPath": {
          "type": "string",
          "minLength": 1,
          "default": "/etc/toolgate"
        }
      }
    },
    "policyBundle": {
      "type": "object",
      "additionalProperties": false,
      "description": "ConfigMap (in the pod's namespace) with the policy bundle; '' = the sidecar's embedded bundle. Mount paths are siblings of the config mount, never inside it: a read-only configMap volume cannot hold mount points.",
      "properties": {
        "configMap": {
          "type": "string",
          "default": ""
        },
        "mountPath": {
          "type": "string",
          "minLength": 1,
          "default": "/etc/toolgate-policy"
        }
      }
    },
    "credentials": {
      "type": "object",
      "additionalProperties": false,
      "description": "Secrets (in the pod's namespace) mounted only into the sidecar, at mountPath/<name>.",
      "properties": {
        "secrets": {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          },
          "default": []
        },
        "mountPath": {
          "type": "string",
          "minLength": 1,
          "default": "/etc/toolgate-credentials"
        }
      }
    },
    "token": {
      "type": "object",
      "additionalProperties": false,
      "description": "The sidecar's own projected service-account token: its workload identity for token exchange.",
      "properties": {
        "audience": {
          "type": "string",
          "minLength": 1,
          "default": "toolgate"
        },
        "expirationSeconds": {
          "type": "integer",
          "minimum": 600,
          "maximum": 86400,
          "default": 600
        },
        "mountPath": {
          "type": "string",
          "minLength": 1,
          "default": "/var/run/secrets/toolgate"
        }
      }
    },
    "ca": {
      "type": "object",
      "additionalProperties": false,
      "description": "The per-pod CA certificate and the trust files beside it, written by the sidecar (its config's tls.ca.publish_cert_to / publish_truststore_to / publish_wgetrc_to must name mountPath/<file>), read-only in agent containers.",
      "properties": {
        "mountPath": {
          "type": "string",
          "pattern": "^/[A-Za-z0-9._/-]*$",
          "default": "/var/run/toolgate/ca",
          "description": "Absolute, without spaces or shell/Java-option metacharacters: it is written into JAVA_TOOL_OPTIONS."
        },
        "file": {
          "type": "string",
          "pattern": "^[A-Za-z0-9._-]+$",
          "default": "ca.crt"
        },
        "truststoreFile": {
          "type": "string",
          "pattern": "^[A-Za-z0-9._-]+$",
          "default": "truststore.p12",
          "description": "Password-less PKCS#12 truststore (CA + public roots) for Java: JAVA_TOOL_OPTIONS -Djavax.net.ssl.trustStore."
        },
        "wgetrcFile": {
          "type": "string",
          "pattern": "^[A-Za-z0-9._-]+$",
          "default": "wgetrc",
          "description": "wgetrc with ca_certificate (WGETRC): wget with GnuTLS ignores SSL_CERT_FILE."
        }
      }
    },
    "ports": {
      "type": "object",
      "additionalProperties": false,
      "description": "health: the sidecar's /healthz + /readyz listener on the pod IP, for the kubelet's httpGet probes (the admin listener is loopback-only, so the kubelet cannot reach it).",
      "properties": {
        "proxy": {
          "$ref": "#/definitions/port",
          "default": 15001
        },
        "admin": {
          "$ref": "#/definitions/port",
          "default": 15000
        },
        "transparentHttp": {
          "$ref": "#/definitions/port",
          "default": 15002
        },
        "transparentTls": {
          "$ref": "#/definitions/port",
          "default": 15003
        },
        "health": {
          "$ref": "#/definitions/port",
          "default": 15021
        }
      }
    },
    "proxyUid": {
      "type": "integer",
      "minimum": 1,
      "default": 15337,
      "description": "UID the sidecar runs as; transparent mode excludes it from the redirect."
    },
    "transparent": {
      "type": "object",
      "additionalProperties": false,
      "description": "redirectAll: TCP to ports other than 80/443 goes to the transparent HTTP listener, which refuses it (without it, only 80 and 443 are intercepted and other ports leave the pod unseen).",
      "properties": {
        "excludeCidrs": {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          },
          "default": []
        },
        "excludePorts": {
          "type": "array",
          "items": {
            "$ref": "#/definitions/port"
          },
          "default": []
        },
        "redirectAll": {
          "type": "boolean",
          "default": true
        }
      }
    },
    "noProxy": {
      "type": "array",
      "items": {
        "type": "string",
        "minLength": 1,
        "maxLength": 253,
        "pattern": "^[A-Za-z0-9.*:\\[\\]/_-]+$"
      },
      "default": [],
      "description": "Extra NO_PROXY entries for agent containers (loopback is always there): host names, .domain suffixes, IP literals, CIDRs, or *. Also rendered into Java's http.nonProxyHosts (CIDRs cannot be, so Java sends those through toolgate)."
    },
    "resources": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "requests": {
          "$ref": "#/definitions/quantities",
          "default": {
            "cpu": "50m",
            "memory": "64Mi"
          }
        },
        "limits": {
          "$ref": "#/definitions/quantities",
          "default": {
            "memory": "256Mi"
          }
        }
      }
    },
    "runtime": {
      "type": "object",
      "additionalProperties": false,
      "description": "The sidecar's Node.js memory settings (see SIDECAR_RUNTIME in proxy/src/inject/settings.ts). '' leaves NODE_OPTIONS unset; 0 leaves MALLOC_ARENA_MAX unset (glibc's default).",
      "properties": {
        "nodeOptions": {
          "type": "string",
          "pattern": "^[^\\n]*$",
          "default": "--max-old-space-size=128 --max-semi-space-size=4"
        },
        "mallocArenaMax": {
          "type": "integer",
          "minimum": 0,
          "maximum": 64,
          "default": 2
        }
      }
    }
  },
  "definitions": {
    "port": {
      "type": "integer",
      "minimum": 1,
      "maximum": 65535
    },
    "quantities": {
      "type": "object",
      "additionalProperties": {
        "type": "string"
      }
    }
  }
} as const
