// The part of the Envoy rate limit service protocol toolgate speaks, as a protobufjs JSON
// descriptor: envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit with the request and
// response fields toolgate reads or writes. Names, packages and field numbers are copied from
// envoy/service/ratelimit/v3/rls.proto and envoy/extensions/common/ratelimit/v3/ratelimit.proto
// (envoyproxy/go-control-plane v1.32.4), so the bytes on the wire are those of the full protocol;
// fields left out are skipped by protobuf decoding like any unknown field. Kept inline (not a
// .proto file read at run time) so the bundled dist/ needs no extra asset.

export const RLS_SERVICE = 'envoy.service.ratelimit.v3.RateLimitService'

export const rlsDescriptor = {
  nested: {
    google: { nested: { protobuf: { nested: {
      Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
    } } } },
    envoy: { nested: {
      extensions: { nested: { common: { nested: { ratelimit: { nested: { v3: { nested: {
        RateLimitDescriptor: {
          fields: { entries: { rule: 'repeated', type: 'Entry', id: 1 } },
          nested: { Entry: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } } },
        },
      } } } } } } } },
      service: { nested: { ratelimit: { nested: { v3: { nested: {
        RateLimitService: {
          methods: { ShouldRateLimit: { requestType: 'RateLimitRequest', responseType: 'RateLimitResponse' } },
        },
        RateLimitRequest: {
          fields: {
            domain: { type: 'string', id: 1 },
            descriptors: { rule: 'repeated', type: 'envoy.extensions.common.ratelimit.v3.RateLimitDescriptor', id: 2 },
            hits_addend: { type: 'uint32', id: 3 },
          },
        },
        RateLimitResponse: {
          fields: {
            overall_code: { type: 'Code', id: 1 },
            statuses: { rule: 'repeated', type: 'DescriptorStatus', id: 2 },
          },
          nested: {
            Code: { values: { UNKNOWN: 0, OK: 1, OVER_LIMIT: 2 } },
            RateLimit: {
              fields: { requests_per_unit: { type: 'uint32', id: 1 }, unit: { type: 'Unit', id: 2 }, name: { type: 'string', id: 3 } },
              nested: { Unit: { values: { UNKNOWN: 0, SECOND: 1, MINUTE: 2, HOUR: 3, DAY: 4, MONTH: 5, YEAR: 6, WEEK: 7 } } },
            },
            DescriptorStatus: {
              fields: {
                code: { type: 'Code', id: 1 },
                current_limit: { type: 'RateLimit', id: 2 },
                limit_remaining: { type: 'uint32', id: 3 },
                duration_until_reset: { type: 'google.protobuf.Duration', id: 4 },
              },
            },
          },
        },
      } } } } } },
    } },
  },
} as const

export interface RlsResponse {
  overall_code: 'UNKNOWN' | 'OK' | 'OVER_LIMIT'
  statuses: Array<{
    code: 'UNKNOWN' | 'OK' | 'OVER_LIMIT'
    current_limit: { requests_per_unit: number; unit: string; name: string } | null
    limit_remaining: number
    duration_until_reset: { seconds: string; nanos: number } | null
  }>
}

/** Seconds in a rate limit unit of the protocol (null for units without a fixed length). */
export const UNIT_SECONDS: Record<string, number | null> = { SECOND: 1, MINUTE: 60, HOUR: 3600, DAY: 86400, WEEK: 604800, MONTH: null, YEAR: null, UNKNOWN: null }
