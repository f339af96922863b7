/** Thin test wrappers over the real API client (ce-server/client/api-client.ts). */
import { CeClient, identityFromDir, type ClientIdentity, type HttpResult, type SseEvent } from '../../ce-server/client/api-client.js';

export type { ClientIdentity, HttpResult };
export const identityFrom = identityFromDir;

export function call<T = any>(base: string, id: ClientIdentity, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
  return new CeClient(base, id).request<T>(method, path, body, headers);
}

/** Read a server-sent event stream until it ends or `until` returns true (20 s at most). */
export function readEvents(base: string, id: ClientIdentity, path: string, until: (e: SseEvent<any>) => boolean, timeoutMs = 20_000): Promise<SseEvent<any>[]> {
  return new CeClient(base, id).events(path, until, { timeoutMs });
}
