// A stub `fetch` that behaves like the ifmatch service for JSON documents:
// strong ETags "v<N>", If-None-Match -> 304, If-Match -> 412 with the current
// ETag and a problem+json body, If-None-Match: * on a write, 428 without a
// precondition, 404 for missing documents.  It records every request.

const problem = (status, title, detail, headers = {}) =>
  new Response(JSON.stringify({ type: "about:blank", title, status, detail }), {
    status,
    headers: { "Content-Type": "application/problem+json", ...headers },
  });

export class StubService {
  constructor() {
    this.docs = new Map(); // path -> { etag, body }
    this.counter = 0;
    this.requests = [];
    this.beforeWrite = null; // hook: runs before a write is evaluated (a concurrent writer)
    this.fail = null; // hook: (request) => Response | Error | undefined
    this.fetch = this.fetch.bind(this);
  }

  put(path, document) {
    this.counter += 1;
    const entry = { etag: `"v${this.counter}"`, body: JSON.stringify(document) };
    this.docs.set(path, entry);
    return entry.etag;
  }

  document(path) {
    const entry = this.docs.get(path);
    return entry && JSON.parse(entry.body);
  }

  async fetch(url, init = {}) {
    const method = init.method || "GET";
    const headers = new Headers(init.headers || {});
    const path = new URL(url).pathname;
    const request = { method, url, path, headers, cache: init.cache, body: init.body };
    this.requests.push(request);
    if (this.fail) {
      const outcome = this.fail(request);
      if (outcome instanceof Error) throw outcome;
      if (outcome) return outcome;
    }
    const ifMatch = headers.get("If-Match");
    const ifNoneMatch = headers.get("If-None-Match");
    if (method === "GET") {
      const entry = this.docs.get(path);
      if (!entry) return problem(404, "Not Found", "no such document");
      const validators = { ETag: entry.etag, "Cache-Control": "no-cache" };
      if (ifNoneMatch && ifNoneMatch.split(/\s*,\s*/).includes(entry.etag)) {
        return new Response(null, { status: 304, headers: validators });
      }
      return new Response(entry.body, {
        status: 200,
        headers: { ...validators, "Content-Type": "application/json" },
      });
    }
    if (this.beforeWrite) {
      const hook = this.beforeWrite;
      this.beforeWrite = null;
      hook(this);
    }
    const entry = this.docs.get(path);
    if (method === "POST") {
      const location = `${path}/id${this.counter + 1}`;
      const etag = this.put(location, JSON.parse(init.body));
      return new Response(init.body, {
        status: 201,
        headers: { ETag: etag, Location: location, "Content-Type": "application/json" },
      });
    }
    if (ifMatch !== null && (!entry || ifMatch !== entry.etag)) {
      const current = entry ? { ETag: entry.etag } : {};
      return problem(412, "Precondition Failed", "If-Match does not match the current ETag", current);
    }
    if (ifNoneMatch === "*" && entry) {
      return problem(412, "Precondition Failed", "If-None-Match: * but it exists", { ETag: entry.etag });
    }
    if (entry && ifMatch === null && ifNoneMatch === null) {
      return problem(428, "Precondition Required", "send If-Match with the current ETag");
    }
    if (method === "DELETE") {
      if (!entry) return problem(404, "Not Found", "no such resource");
      this.docs.delete(path);
      return new Response(null, { status: 204 });
    }
    const etag = this.put(path, JSON.parse(init.body));
    return new Response(init.body, {
      status: entry ? 200 : 201,
      headers: { ETag: etag, "Content-Type": "application/json" },
    });
  }

  writes() {
    return this.requests.filter((request) => request.method !== "GET");
  }
}
