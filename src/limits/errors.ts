/** Typed errors of the limiter store, mapped to HTTP by the gateway's error handler. */

/** The store cannot decide (Redis unreachable in fail-closed mode): the gateway answers 503. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
