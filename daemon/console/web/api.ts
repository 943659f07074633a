import type { Method } from '../../control/protocol.js';
import type { Result } from '../../control/results.js';

/**
 * The console's one way to the device: JSON in, JSON out, the API's `{error: {code, message}}`
 * turned into an ApiError whose message is the server's own (forms show it as it is), and the
 * session's CSRF token in X-CSRF-Token on every request that changes something.
 */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly retryAfterS: number | null = null) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken = '';
let onUnauthorised: () => void = () => undefined;

export function setCsrf(token: string): void {
  csrfToken = token;
}

/** Called when a request other than the login answers 401: the session ended (expired, logged out elsewhere). */
export function onSessionLost(fn: () => void): void {
  onUnauthorised = fn;
}

async function errorOf(res: Response): Promise<ApiError> {
  const retry = res.headers.get('Retry-After');
  const retryAfterS = retry === null ? null : Number(retry);
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json() as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // Not JSON (a proxy's page, an empty body): the status line is all there is to say.
  }
  return new ApiError(res.status, code, message, retryAfterS !== null && Number.isFinite(retryAfterS) ? retryAfterS : null);
}

export async function request<T>(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && url !== '/api/login') onUnauthorised();
    throw err;
  }
  if (res.status === 204) return undefined as T;
  return await res.json() as T;
}

export const get = <T>(url: string): Promise<T> => request<T>('GET', url);
export const post = <T>(url: string, body?: unknown): Promise<T> => request<T>('POST', url, body ?? {});
export const del = <T>(url: string): Promise<T> => request<T>('DELETE', url);

/** A control method through POST /api/rpc: the same methods and validation as vigilctl. */
export async function rpc<M extends Method>(method: M, params?: Record<string, unknown>): Promise<Result<M>> {
  const reply = await post<{ result: Result<M> }>('/api/rpc', params === undefined ? { method } : { method, params });
  return reply.result;
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
