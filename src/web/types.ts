/**
 * The API's shapes as the page sees them. The job's status, view and events are the server's own
 * types (src/jobs/events.ts), and GET /api/config's shape is the server's (src/jobs/config.ts), all
 * imported as types only: those modules import nothing of Node, and the bundle test
 * (test/web/bundle.test.ts) guards the page's bundle. TERMINAL is the one value.
 */
export type { ImageInfo, JobEvent, JobProgress, JobState, JobView, LossPoint } from '../jobs/events.js';
export { TERMINAL_STATES as TERMINAL } from '../jobs/events.js';

export type { ConfigOption as OptionSpec, ServerConfig } from '../jobs/config.js';
