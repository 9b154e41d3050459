// ifmatch.js: HTTP conditional requests from the browser (RFC 9110 §13, RFC 6585 §3).
//
// A dependency-free ES module; no build step.  Import it as it is:
//
//   import { Client } from "/ifmatch.js";
//   const api = new Client({ token: sessionStorage.getItem("token") });
//   const note = await api.get("/api/notes/today");          // { document, etag, ... }
//   await api.update("/api/notes/today", (doc) => ({ ...doc, done: true }));
//
// Who caches what.  The browser's HTTP cache keeps responses across page
// loads; this module keeps, for the life of the page, the last version of
// each URL it read or wrote (its document and ETag), because conditional
// writes, polling and a three-way merge need the ETag and the body in hand.
// They never fight over a request:
//
// - When the module holds no version of a URL, it fetches with
//   `cache: "no-cache"`: the browser's HTTP cache revalidates its stored
//   copy (If-None-Match with the ETag it stored) and a 304 comes back to the
//   page as the stored 200.  So a reload costs a 304, not the document.
// - When the module holds a version, it sends If-None-Match itself with
//   `cache: "no-store"`: the browser's cache neither answers nor stores that
//   request, and the 304 reaches this module, which then answers from its
//   own copy (`version.revalidated === true`).
// - Writes (PUT, POST, DELETE) are never cached by the browser.
//
// Every response the module reads must come from the server's validators
// (ETag, `Cache-Control: no-cache`): it never treats a stored copy as fresh
// without asking.

/** The media types this module sends and understands. */
export const JSON_TYPE = "application/json";
export const PROBLEM_TYPE = "application/problem+json";

/**
 * One representation as the server sent it.
 * @typedef {object} Version
 * @property {string} url
 * @property {any} document      decoded JSON (or text, for a non-JSON type)
 * @property {string|null} etag  the strong ETag, exactly as sent
 * @property {string|null} lastModified
 * @property {number} status     200 (or 201 after a create)
 * @property {boolean} revalidated  true when a 304 confirmed this module's copy
 */

/** A response the module could not accept: status, problem+json and current ETag. */
export class HttpError extends Error {
  /**
   * @param {string} method
   * @param {string} url
   * @param {number} status
   * @param {object|null} problem  the RFC 9457 problem details, if the body was one
   * @param {string|null} etag     the ETag the response carried (a 412 names the current one)
   */
  constructor(method, url, status, problem, etag) {
    super(describeStatus(method, url, status, problem));
    this.name = "HttpError";
    this.method = method;
    this.url = url;
    this.status = status;
    this.problem = problem;
    this.etag = etag;
  }
}

/**
 * A write's precondition failed (412): someone else changed the resource.
 * `current` is the server's version now (`null` when it no longer exists),
 * `attempted` the document this client tried to write, `base` the version
 * that document was made from (`null` for a create).
 */
export class ConflictError extends HttpError {
  constructor(method, url, problem, etag, { base = null, attempted, current = null, attempts = 1 }) {
    super(method, url, 412, problem, etag);
    this.name = "ConflictError";
    this.base = base;
    this.attempted = attempted;
    this.current = current;
    this.attempts = attempts;
  }
}

/** `create` found a representation already there (If-None-Match: * failed). */
export class AlreadyExistsError extends ConflictError {
  constructor(...args) {
    super(...args);
    this.name = "AlreadyExistsError";
  }
}

/** The service answered 428: it accepts this write only with If-Match (RFC 6585 §3). */
export class PreconditionRequiredError extends HttpError {
  constructor(method, url, problem, etag) {
    super(method, url, 428, problem, etag);
    this.name = "PreconditionRequiredError";
  }
}

/** The request never got an answer (network down, server gone, CORS, aborted). */
export class NetworkError extends Error {
  constructor(method, url, cause) {
    const why = cause && cause.name === "AbortError" ? "the request was aborted" : "no answer";
    super(`${method} ${url}: ${why} (is the service running and reachable?)`, { cause });
    this.name = "NetworkError";
    this.method = method;
    this.url = url;
  }
}

const REASONS = {
  400: "the request was not valid",
  401: "a valid token is required",
  403: "this token may not do that",
  404: "it does not exist",
  405: "that method is not allowed here",
  409: "the change does not apply to the current version",
  412: "someone else changed it since you read it",
  413: "it is too large",
  415: "the service does not accept that media type",
  422: "the change cannot be applied",
  428: "the service requires If-Match: read the current version first",
  429: "too many requests; try again shortly",
  500: "the service failed",
  503: "the service is unavailable; try again shortly",
};

/** A sentence for an error response: status, what it means, and the server's detail. */
export function describeStatus(method, url, status, problem) {
  const reason = REASONS[status] || "the request failed";
  const title = problem && typeof problem.title === "string" ? problem.title : "";
  const detail = problem && typeof problem.detail === "string" ? problem.detail : "";
  const heading = title ? `${status} ${title}` : `${status}`;
  const said = detail && detail !== title ? ` The service says: ${detail}.` : "";
  return `${method} ${url}: ${heading}: ${reason}.${said}`;
}

/** Deep equality of JSON values (object key order does not matter). */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * A client for a JSON API with validators: a revalidating cache, conditional
 * writes, polling.  Options:
 *   base      URL the request paths are resolved against (default: the page's)
 *   token     bearer token sent as `Authorization: Bearer <token>` (or a function returning it)
 *   fetch     the fetch to use (default: globalThis.fetch; tests pass a stub)
 *   retries   how many times `update` re-reads and re-applies after a 412 (default 4)
 *   backoff   base delay in ms between those attempts, doubled each time, jittered (default 50)
 */
export class Client {
  constructor({ base, token = null, fetch, retries = 4, backoff = 50 } = {}) {
    this.base = base ?? globalThis.location?.href ?? "http://localhost/";
    this.token = token;
    this.fetch = fetch ?? globalThis.fetch.bind(globalThis);
    this.retries = retries;
    this.backoff = backoff;
    /** @type {Map<string, Version>} this page's copies, by absolute URL */
    this.versions = new Map();
  }

  /** The absolute URL for `url`, resolved against `base`. */
  resolve(url) {
    return new URL(url, this.base).href;
  }

  /** The version this client last saw of `url`, or undefined. */
  cached(url) {
    return this.versions.get(this.resolve(url));
  }

  /** Forget what this client holds for `url` (or everything). */
  forget(url) {
    if (url === undefined) this.versions.clear();
    else this.versions.delete(this.resolve(url));
  }

  _headers(extra = {}) {
    const headers = { Accept: `${JSON_TYPE}, ${PROBLEM_TYPE}`, ...extra };
    const token = typeof this.token === "function" ? this.token() : this.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  async _send(method, url, { headers = {}, body, cache = "no-store", signal } = {}) {
    const init = { method, headers: this._headers(headers), cache, signal, credentials: "same-origin" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = JSON_TYPE;
    }
    try {
      return await this.fetch(url, init);
    } catch (error) {
      throw new NetworkError(method, url, error);
    }
  }

  /** The HttpError (or subclass) for a response the caller cannot use. */
  async _error(method, url, response, extra) {
    const problem = await readProblem(response);
    const etag = response.headers.get("ETag");
    if (response.status === 428) return new PreconditionRequiredError(method, url, problem, etag);
    if (response.status === 412 && extra) {
      const Kind = extra.create ? AlreadyExistsError : ConflictError;
      return new Kind(method, url, problem, etag, extra);
    }
    return new HttpError(method, url, response.status, problem, etag);
  }

  async _version(url, response) {
    const type = response.headers.get("Content-Type") || "";
    const text = await response.text();
    const document = /[/+]json\b/.test(type) || type === "" ? parseJson(text) : text;
    return {
      url,
      document,
      etag: response.headers.get("ETag"),
      lastModified: response.headers.get("Last-Modified"),
      status: response.status,
      revalidated: false,
    };
  }

  _keep(version) {
    if (version.etag) this.versions.set(version.url, version);
    else this.versions.delete(version.url);
    return version;
  }

  /**
   * GET `url`, revalidating whatever copy exists (see "Who caches what").
   * Resolves to a Version; a 404 and other errors reject with HttpError.
   */
  async get(url, { signal } = {}) {
    const target = this.resolve(url);
    const held = this.versions.get(target);
    const response = held
      ? await this._send("GET", target, { headers: { "If-None-Match": held.etag }, signal })
      : await this._send("GET", target, { cache: "no-cache", signal });
    if (response.status === 304 && held) {
      const etag = response.headers.get("ETag") || held.etag;
      const lastModified = response.headers.get("Last-Modified") || held.lastModified;
      return this._keep({ ...held, etag, lastModified, revalidated: true });
    }
    if (!response.ok) {
      if (response.status === 404) this.versions.delete(target);
      throw await this._error("GET", target, response);
    }
    return this._keep(await this._version(target, response));
  }

  /** The current version of `url`, or null when it does not exist (404). */
  async _current(url, signal) {
    try {
      return await this.get(url, { signal });
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * PUT `document` to `url` only if the server still has `etag` (If-Match):
   * the ETag of the version the edit started from, which the caller passes
   * explicitly (what `get` or `poll` saw since may be newer).  A 412 rejects
   * with ConflictError carrying the server's current version (read again),
   * so the caller can show both; a 428 with PreconditionRequiredError.
   */
  async save(url, document, { etag, base = null, signal } = {}) {
    const target = this.resolve(url);
    const tag = etag;
    if (!tag) throw new TypeError(`save ${target}: pass the ETag the edit started from, or use create()`);
    const response = await this._send("PUT", target, {
      headers: { "If-Match": tag },
      body: document,
      signal,
    });
    if (response.ok) return this._written(target, response, document);
    if (response.status === 412) {
      const error = await this._error("PUT", target, response, { base, attempted: document });
      error.current = await this._current(target, signal);
      throw error;
    }
    throw await this._error("PUT", target, response);
  }

  /**
   * PUT `document` to `url` only if nothing is there yet (If-None-Match: *).
   * An existing resource rejects with AlreadyExistsError carrying it.
   */
  async create(url, document, { signal } = {}) {
    const target = this.resolve(url);
    const response = await this._send("PUT", target, {
      headers: { "If-None-Match": "*" },
      body: document,
      signal,
    });
    if (response.ok) return this._written(target, response, document);
    if (response.status === 412) {
      const extra = { create: true, attempted: document };
      const error = await this._error("PUT", target, response, extra);
      error.current = await this._current(target, signal);
      throw error;
    }
    throw await this._error("PUT", target, response);
  }

  /** POST `document` to a collection; resolves to the Version at its new Location. */
  async add(collectionUrl, document, { signal } = {}) {
    const target = this.resolve(collectionUrl);
    const response = await this._send("POST", target, { body: document, signal });
    if (!response.ok) throw await this._error("POST", target, response);
    const location = response.headers.get("Location");
    return this._written(location ? this.resolve(location) : target, response, document);
  }

  /**
   * DELETE `url` only if the server still has `etag` (If-Match).  A 412
   * rejects with ConflictError carrying the current version.
   */
  async remove(url, { etag, signal } = {}) {
    const target = this.resolve(url);
    const tag = etag;
    if (!tag) throw new TypeError(`remove ${target}: pass the ETag of the version to delete`);
    const response = await this._send("DELETE", target, { headers: { "If-Match": tag }, signal });
    if (response.ok) {
      this.versions.delete(target);
      return;
    }
    if (response.status === 412) {
      const error = await this._error("DELETE", target, response, { attempted: null });
      error.current = await this._current(target, signal);
      throw error;
    }
    throw await this._error("DELETE", target, response);
  }

  async _written(url, response, document) {
    const text = await response.text();
    const version = {
      url,
      document: text ? parseJson(text) : document,
      etag: response.headers.get("ETag"),
      lastModified: response.headers.get("Last-Modified"),
      status: response.status,
      revalidated: false,
    };
    return this._keep(version);
  }

  /**
   * Read, change, write with If-Match; on 412 read the new version and apply
   * `change` again (after a short jittered backoff), up to `retries` times.
   *
   * `change(document, version)` returns the new document (it may be async
   * and receives a copy it may mutate).  Returning a document equal to the
   * current one writes nothing.  With `onConflict`, a 412 is handed to it
   * instead of re-applying: `onConflict({ base, mine, theirs })` gets the
   * version the change started from, the document it tried to write and the
   * server's current version (null when deleted), and returns the document
   * to write against `theirs` (or undefined to give up with ConflictError).
   * Resolves to { document, etag, attempts, changed, version }.
   */
  async update(url, change, { retries = this.retries, onConflict, signal } = {}) {
    const target = this.resolve(url);
    let current = await this.get(target, { signal });
    let next;
    for (let attempt = 1; ; attempt += 1) {
      next = next ?? (await change(structuredClone(current.document), current));
      if (jsonEqual(next, current.document)) {
        return { document: next, etag: current.etag, attempts: attempt - 1, changed: false, version: current };
      }
      let conflict;
      try {
        const version = await this.save(target, next, { etag: current.etag, base: current, signal });
        return { document: version.document, etag: version.etag, attempts: attempt, changed: true, version };
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        conflict = Object.assign(error, { attempts: attempt });
      }
      const theirs = conflict.current;
      if (onConflict) {
        const resolved = await onConflict({ base: current, mine: next, theirs });
        if (resolved === undefined) throw conflict;
        if (theirs === null) {
          const version = await this.create(target, resolved, { signal });
          return { document: version.document, etag: version.etag, attempts: attempt + 1, changed: true, version };
        }
        current = theirs;
        next = resolved;
        continue;
      }
      if (theirs === null || attempt > retries) throw conflict;
      await sleep(Math.random() * this.backoff * 2 ** (attempt - 1), signal);
      current = theirs;
      next = undefined;
    }
  }

  /**
   * Poll `url` with If-None-Match every `interval` ms; yield only changes:
   * the first version, then each new one (a 304 yields nothing).  With
   * `since` (an ETag you already hold) the first request waits one interval
   * and its version is yielded only if it differs.  A deleted resource
   * yields `null` once.  Stops when `signal` aborts (the loop then
   * just ends) or the consumer breaks out of `for await`.  Errors other than
   * 404 reject; the caller decides whether to poll on.
   */
  async *poll(url, { interval = 5000, since, signal } = {}) {
    const target = this.resolve(url);
    let last = since === undefined ? undefined : { etag: since };
    if (last !== undefined) {
      try {
        await sleep(interval, signal);
      } catch {
        return;
      }
    }
    while (!signal?.aborted) {
      let version;
      try {
        version = await this._current(target, signal);
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      const changed =
        last === undefined || (version === null ? last !== null : last === null || version.etag !== last.etag);
      if (changed) {
        last = version;
        yield version;
      }
      try {
        await sleep(interval, signal);
      } catch {
        return;
      }
    }
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function readProblem(response) {
  try {
    const text = await response.text();
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

// -- three-way comparison, field by field (JSON Pointers, RFC 6901) -----------

/** The JSON Pointer for `parts` (RFC 6901 §3: "~" -> "~0", "/" -> "~1"). */
export function pointer(parts) {
  return parts.map((part) => `/${String(part).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const ABSENT = undefined;

/**
 * The fields of three versions of a document, compared: `base` (what the
 * edit started from), `mine` (the edit) and `theirs` (the server's now).
 * Objects present as objects in all three are compared member by member;
 * anything else (numbers, strings, arrays, an object on one side only) is
 * one field.  Each field is { path, base, mine, theirs, differs, mineChanged,
 * theirsChanged, conflict }; `undefined` means absent; `differs` marks a
 * field where mine and theirs disagree; `conflict` where both changed it
 * differently.
 */
export function threeWay(base, mine, theirs) {
  const fields = [];
  const walk = (parts, b, m, t) => {
    if (isObject(b) && isObject(m) && isObject(t)) {
      const keys = [...new Set([...Object.keys(m), ...Object.keys(t), ...Object.keys(b)])];
      for (const key of keys) walk([...parts, key], b[key], m[key], t[key]);
      return;
    }
    const mineChanged = !sameValue(b, m);
    const theirsChanged = !sameValue(b, t);
    const differs = !sameValue(m, t);
    fields.push({
      path: pointer(parts),
      parts,
      base: b,
      mine: m,
      theirs: t,
      differs,
      mineChanged,
      theirsChanged,
      conflict: differs && mineChanged && theirsChanged,
    });
  };
  walk([], base, mine, theirs);
  return fields;
}

const sameValue = (a, b) => (a === ABSENT || b === ABSENT ? a === b : jsonEqual(a, b));

/**
 * The side a field takes unless the user picks: the side that changed it
 * (a three-way merge), and "mine" where both did.
 */
export function defaultSide(field) {
  return field.theirsChanged && !field.mineChanged ? "theirs" : "mine";
}

/**
 * The document made by taking, for each field, the side `picks[path]` names
 * ("mine" or "theirs"; default: `defaultSide`).  Picking every field from
 * one side gives exactly that side's document.
 */
export function mergeFields(base, mine, theirs, picks = {}) {
  const merge = (parts, b, m, t) => {
    if (isObject(b) && isObject(m) && isObject(t)) {
      const result = {};
      for (const key of new Set([...Object.keys(m), ...Object.keys(t), ...Object.keys(b)])) {
        const value = merge([...parts, key], b[key], m[key], t[key]);
        if (value !== ABSENT) result[key] = value;
      }
      return result;
    }
    const path = pointer(parts);
    const side = picks[path] ?? defaultSide({ mineChanged: !sameValue(b, m), theirsChanged: !sameValue(b, t) });
    const value = side === "theirs" ? t : m;
    return value === ABSENT ? ABSENT : structuredClone(value);
  };
  return merge([], base, mine, theirs);
}
