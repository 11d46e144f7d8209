import type { FlotillaClient } from '../../../client/client.ts';
import { dashboardClient } from '../api.ts';

let client: FlotillaClient | undefined;

/**
 * The typed client the actions write through (the gate's `/ui/api`, with its CSRF header; the
 * session cookie goes by itself). One for the page, made on first use, so views need not
 * carry it.
 */
export function actionClient(): FlotillaClient {
  client ??= dashboardClient();
  return client;
}
