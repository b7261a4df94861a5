// Token bucket arithmetic, pure: the caller passes the time. A bucket holds up to `capacity`
// tokens and refills continuously at `ratePerS`; a call takes one. Times are milliseconds of a
// monotonic clock, so a wall-clock step cannot refill or drain a bucket.

export interface BucketState {
  tokens: number
  updatedMs: number
}

export interface BucketShape {
  capacity: number
  ratePerS: number
}

export function fullBucket(shape: BucketShape, nowMs: number): BucketState {
  return { tokens: shape.capacity, updatedMs: nowMs }
}

/** The state at nowMs (refilled, never above capacity; a clock that goes back refills nothing). */
export function refill(state: BucketState, shape: BucketShape, nowMs: number): BucketState {
  const elapsed = Math.max(0, nowMs - state.updatedMs)
  return { tokens: Math.min(shape.capacity, state.tokens + (elapsed / 1000) * shape.ratePerS), updatedMs: Math.max(nowMs, state.updatedMs) }
}

/** Seconds until `n` tokens are available (0 when they are). */
export function secondsUntil(state: BucketState, shape: BucketShape, n: number): number {
  return state.tokens >= n ? 0 : (n - state.tokens) / shape.ratePerS
}

/** Seconds until the bucket is full again. */
export function secondsUntilFull(state: BucketState, shape: BucketShape): number {
  return (shape.capacity - state.tokens) / shape.ratePerS
}
