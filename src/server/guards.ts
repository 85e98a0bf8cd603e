/**
 * Who may talk to the server, and from where. A page on another site must not be able to drive
 * it through the user's browser:
 *
 * - DNS rebinding: a name the attacker controls resolves to 127.0.0.1, and their page then talks
 *   to us "same-origin". Its requests carry their name in Host, so only Host values that name us
 *   are served: an IP address, `localhost`, the name bound to, or one of `allowedHosts`.
 * - Cross-site requests: a POST or DELETE whose Origin is not this server's own (or that the
 *   browser marks `Sec-Fetch-Site: cross-site`) is refused. Clients that send no Origin at all
 *   (curl, scripts) are not browsers and cannot be made to act for someone else.
 * - Listing: each browser gets a random token in a cookie, and jobs remember the hash of the
 *   token that created them, so `GET /api/jobs` shows a browser its own jobs only. A job's page
 *   stays reachable by its id (122 random bits) to whoever has the link.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { HttpError } from './http-error.js';

/** The host name of a Host header value (`name:port`, `[v6]:port`), lower-cased; undefined when malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]\s]+)(?::\d{1,5})?$/i.exec(header.trim());
  return m ? m[1].toLowerCase() : undefined;
}

/**
 * Whether a Host header names this server. `allowed` entries match exactly, or, written with a
 * leading dot (`.example.com`), a domain and its subdomains.
 */
export function isAllowedHost(header: string | undefined, boundHost: string, allowed: readonly string[]): boolean {
  const name = hostName(header);
  if (!name) return false;
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  if (isIP(bare) || bare === 'localhost' || bare === boundHost.toLowerCase()) return true;
  return allowed.some((a) => {
    const entry = a.toLowerCase();
    return entry.startsWith('.') ? bare === entry.slice(1) || bare.endsWith(entry) : bare === entry;
  });
}

/** Whether a state-changing request comes from our own page (or from no browser at all). */
export function isSameOrigin(headers: { origin?: string; host?: string; 'sec-fetch-site'?: string }): boolean {
  if (headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = headers.origin;
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === (headers.host ?? '').toLowerCase();
  } catch {
    return false; // "null" (sandboxed frames, file://) and garbage
  }
}

export const CLIENT_COOKIE = 'st_client';
/**
 * The cookie's name on a page served over https: a `__Host-` cookie can only be set by this host
 * itself (Secure, Path=/, no Domain), so a sibling subdomain cannot toss one in ("cookie tossing").
 */
export const SECURE_CLIENT_COOKIE = `__Host-${CLIENT_COOKIE}`;
const TOKEN = /^[0-9a-f]{32}$/;

/**
 * The browser's token from a Cookie header, if it has a well-formed one. Two cookies of that name
 * mean another site under the same domain set one (tossing): the request is refused rather than
 * guessing which is the browser's own.
 */
export function clientToken(cookieHeader: string | undefined, secure = false): string | undefined {
  const name = secure ? SECURE_CLIENT_COOKIE : CLIENT_COOKIE;
  const values: string[] = [];
  for (const part of (cookieHeader ?? '').split(';')) {
    const cut = part.indexOf('=');
    if (cut > 0 && part.slice(0, cut).trim() === name) values.push(part.slice(cut + 1).trim());
  }
  if (values.length > 1) {
    throw new HttpError(
      400,
      `this request carries ${values.length} ${name} cookies (one may have been set by another site under the same domain); clear this site's cookies and reload`,
    );
  }
  return values.length === 1 && TOKEN.test(values[0]) ? values[0] : undefined;
}

export function newClientToken(): string {
  return randomBytes(16).toString('hex');
}

/** The Set-Cookie value that gives a browser its token (not readable by scripts, never sent cross-site; over https, `__Host-` and Secure). */
export function clientCookie(token: string, secure = false): string {
  return secure
    ? `${SECURE_CLIENT_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=31536000`
    : `${CLIENT_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000`;
}

/** What a job stores about its creator: a hash, so the data dir holds no live tokens. */
export function ownerOf(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 32);
}
