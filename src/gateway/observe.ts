/** The observer hooks, now in ./events.ts (a leaf module); this path re-exports them. */
export { type AttemptObserver, type AttemptWatch, type ChatWatch, type GatewayObserver, NOOP_CHAT_WATCH, NOOP_OBSERVER } from './events.js';
