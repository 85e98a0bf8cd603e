/**
 * The API's shapes as the page sees them. The job's status, view and events are the server's own
 * types (src/jobs/events.ts), as is GET /api/config's ServerConfig, imported as types only: that
 * module imports nothing of Node, and the bundle test (test/web/bundle.test.ts) guards the page's
 * bundle. TERMINAL is the one value.
 */
export type { ConfigOption as OptionSpec, ImageInfo, JobEvent, JobProgress, JobState, JobView, LossPoint, ServerConfig } from '../jobs/events.js';
export { TERMINAL_STATES as TERMINAL } from '../jobs/events.js';
