// Unit tests of ifmatch.js against a stub fetch (node --test tests/js).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  AlreadyExistsError,
  Client,
  ConflictError,
  HttpError,
  NetworkError,
  PreconditionRequiredError,
  defaultSide,
  describeStatus,
  jsonEqual,
  mergeFields,
  pointer,
  threeWay,
} from "../../src/ifmatch/service/static/ifmatch.js";
import { StubService } from "./stub.mjs";

const BASE = "http://service.test/";
const DOC = "/api/notes/a";

function setup(options = {}) {
  const service = new StubService();
  const client = new Client({ base: BASE, fetch: service.fetch, backoff: 1, ...options });
  return { service, client };
}

describe("get: the revalidating cache (RFC 9110 §13.1.2)", () => {
  test("the first read leaves revalidation to the browser's cache; later reads send If-None-Match", async () => {
    const { service, client } = setup();
    service.put(DOC, { title: "one" });
    const first = await client.get(DOC);
    assert.deepEqual(first.document, { title: "one" });
    assert.equal(first.etag, '"v1"');
    assert.equal(first.revalidated, false);
    assert.equal(service.requests[0].cache, "no-cache");
    assert.equal(service.requests[0].headers.get("If-None-Match"), null);

    const second = await client.get(DOC);
    assert.equal(service.requests[1].headers.get("If-None-Match"), '"v1"');
    assert.equal(service.requests[1].cache, "no-store");
    assert.equal(second.revalidated, true);
    assert.deepEqual(second.document, { title: "one" });
  });

  test("a changed resource replaces the held copy", async () => {
    const { service, client } = setup();
    service.put(DOC, { title: "one" });
    await client.get(DOC);
    service.put(DOC, { title: "two" });
    const again = await client.get(DOC);
    assert.equal(again.revalidated, false);
    assert.deepEqual(again.document, { title: "two" });
    assert.equal(client.cached(DOC).etag, '"v2"');
  });

  test("a 404 rejects with HttpError carrying the problem and forgets the copy", async () => {
    const { service, client } = setup();
    service.put(DOC, {});
    await client.get(DOC);
    service.docs.delete(DOC);
    await assert.rejects(client.get(DOC), (error) => {
      assert.ok(error instanceof HttpError);
      assert.equal(error.status, 404);
      assert.equal(error.problem.detail, "no such document");
      assert.match(error.message, /404 Not Found: it does not exist\. The service says: no such document\./);
      return true;
    });
    assert.equal(client.cached(DOC), undefined);
  });

  test("the token goes out as a bearer token, read at each request", async () => {
    let token = "first";
    const { service, client } = setup({ token: () => token });
    service.put(DOC, {});
    await client.get(DOC);
    token = "second";
    await client.get(DOC);
    assert.equal(service.requests[0].headers.get("Authorization"), "Bearer first");
    assert.equal(service.requests[1].headers.get("Authorization"), "Bearer second");
  });

  test("no token, no Authorization", async () => {
    const { service, client } = setup();
    service.put(DOC, {});
    await client.get(DOC);
    assert.equal(service.requests[0].headers.get("Authorization"), null);
  });
});

describe("save, create, remove: conditional writes", () => {
  test("save sends If-Match with the ETag the edit started from", async () => {
    const { service, client } = setup();
    service.put(DOC, { n: 1 });
    const read = await client.get(DOC);
    const saved = await client.save(DOC, { n: 2 }, { etag: read.etag });
    assert.equal(service.writes()[0].headers.get("If-Match"), '"v1"');
    assert.equal(service.writes()[0].headers.get("Content-Type"), "application/json");
    assert.equal(saved.etag, '"v2"');
    assert.deepEqual(service.document(DOC), { n: 2 });
    assert.equal(client.cached(DOC).etag, '"v2"');
  });

  test("a stale save (412) rejects with both versions and writes nothing", async () => {
    const { service, client } = setup();
    service.put(DOC, { n: 1 });
    const read = await client.get(DOC);
    service.put(DOC, { n: 5, by: "them" });
    await assert.rejects(client.save(DOC, { n: 2 }, { etag: read.etag, base: read }), (error) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.status, 412);
      assert.equal(error.etag, '"v2"');
      assert.equal(error.problem.title, "Precondition Failed");
      assert.deepEqual(error.attempted, { n: 2 });
      assert.deepEqual(error.base.document, { n: 1 });
      assert.deepEqual(error.current.document, { n: 5, by: "them" });
      assert.equal(error.current.etag, '"v2"');
      return true;
    });
    assert.deepEqual(service.document(DOC), { n: 5, by: "them" });
  });

  test("a 412 on a deleted document carries current = null", async () => {
    const { service, client } = setup();
    service.put(DOC, { n: 1 });
    const read = await client.get(DOC);
    service.docs.delete(DOC);
    await assert.rejects(client.save(DOC, { n: 2 }, { etag: read.etag }), (error) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.current, null);
      return true;
    });
  });

  test("save refuses to write without an ETag", async () => {
    const { client } = setup();
    await assert.rejects(client.save(DOC, {}), TypeError);
  });

  test("create sends If-None-Match: * and an existing document is an AlreadyExistsError", async () => {
    const { service, client } = setup();
    const made = await client.create(DOC, { fresh: true });
    assert.equal(made.status, 201);
    assert.equal(service.writes()[0].headers.get("If-None-Match"), "*");
    assert.equal(service.writes()[0].headers.get("If-Match"), null);
    await assert.rejects(client.create(DOC, { fresh: false }), (error) => {
      assert.ok(error instanceof AlreadyExistsError);
      assert.ok(error instanceof ConflictError);
      assert.deepEqual(error.current.document, { fresh: true });
      return true;
    });
    assert.deepEqual(service.document(DOC), { fresh: true });
  });

  test("remove deletes only the version seen", async () => {
    const { service, client } = setup();
    service.put(DOC, { n: 1 });
    const read = await client.get(DOC);
    service.put(DOC, { n: 2 });
    await assert.rejects(client.remove(DOC, { etag: read.etag }), ConflictError);
    assert.deepEqual(service.document(DOC), { n: 2 });
    await client.remove(DOC, { etag: '"v2"' });
    assert.equal(service.writes().at(-1).headers.get("If-Match"), '"v2"');
    assert.equal(service.document(DOC), undefined);
  });

  test("add POSTs to the collection and follows Location", async () => {
    const { service, client } = setup();
    const made = await client.add("/api/notes", { x: 1 });
    assert.equal(service.writes()[0].method, "POST");
    assert.equal(made.url, `${BASE}api/notes/id1`);
    assert.equal(made.etag, '"v1"');
  });

  test("a 428 is a PreconditionRequiredError that says what to do", async () => {
    const { service, client } = setup();
    service.put(DOC, { n: 1 });
    service.fail = (request) =>
      request.method === "PUT"
        ? new Response(JSON.stringify({ title: "Precondition Required", status: 428, detail: "send If-Match" }), {
            status: 428,
            headers: { "Content-Type": "application/problem+json" },
          })
        : undefined;
    await assert.rejects(client.save(DOC, { n: 2 }, { etag: '"v1"' }), (error) => {
      assert.ok(error instanceof PreconditionRequiredError);
      assert.equal(error.status, 428);
      assert.match(error.message, /428 Precondition Required: the service requires If-Match/);
      assert.match(error.message, /The service says: send If-Match\./);
      return true;
    });
  });

  test("a network failure is a NetworkError, not a TypeError from fetch", async () => {
    const { service, client } = setup();
    service.fail = () => new TypeError("fetch failed");
    await assert.rejects(client.get(DOC), (error) => {
      assert.ok(error instanceof NetworkError);
      assert.match(error.message, /no answer \(is the service running and reachable\?\)/);
      assert.equal(error.cause.message, "fetch failed");
      return true;
    });
  });

  test("an error body that is not problem+json still gives a readable error", async () => {
    const { service, client } = setup();
    service.fail = () => new Response("<h1>Bad Gateway</h1>", { status: 502 });
    await assert.rejects(client.get(DOC), (error) => {
      assert.equal(error.problem, null);
      assert.equal(error.message, `GET ${BASE}api/notes/a: 502: the request failed.`);
      return true;
    });
  });
});

describe("update: re-read and re-apply on 412 (RFC 9110 §13.1.1)", () => {
  test("a concurrent write is not lost: the change is applied again to their version", async () => {
    const { service, client } = setup();
    service.put(DOC, { tags: ["a"] });
    service.beforeWrite = (svc) => svc.put(DOC, { tags: ["a", "theirs"] });
    const seen = [];
    const result = await client.update(DOC, (doc) => {
      seen.push(structuredClone(doc));
      doc.tags.push("mine");
      return doc;
    });
    assert.deepEqual(seen, [{ tags: ["a"] }, { tags: ["a", "theirs"] }]);
    assert.deepEqual(service.document(DOC), { tags: ["a", "theirs", "mine"] });
    assert.equal(result.attempts, 2);
    assert.equal(result.changed, true);
    const ifMatches = service.writes().map((request) => request.headers.get("If-Match"));
    assert.deepEqual(ifMatches, ['"v1"', '"v2"']);
  });

  test("an unchanged document writes nothing", async () => {
    const { service, client } = setup();
    service.put(DOC, { n: 1 });
    const result = await client.update(DOC, (doc) => doc);
    assert.equal(result.changed, false);
    assert.equal(service.writes().length, 0);
  });

  test("onConflict receives base, mine and theirs, and its answer is written against theirs", async () => {
    const { service, client } = setup();
    service.put(DOC, { a: 1, b: 1 });
    service.beforeWrite = (svc) => svc.put(DOC, { a: 1, b: 2 });
    let handed;
    await client.update(DOC, (doc) => ({ ...doc, a: 9 }), {
      onConflict: ({ base, mine, theirs }) => {
        handed = { base: base.document, mine, theirs: theirs.document };
        return mergeFields(base.document, mine, theirs.document);
      },
    });
    assert.deepEqual(handed, { base: { a: 1, b: 1 }, mine: { a: 9, b: 1 }, theirs: { a: 1, b: 2 } });
    assert.deepEqual(service.document(DOC), { a: 9, b: 2 });
    assert.equal(service.writes().at(-1).headers.get("If-Match"), '"v2"');
  });

  test("onConflict returning undefined gives up with the ConflictError", async () => {
    const { service, client } = setup();
    service.put(DOC, { a: 1 });
    service.beforeWrite = (svc) => svc.put(DOC, { a: 2 });
    await assert.rejects(
      client.update(DOC, () => ({ a: 3 }), { onConflict: () => undefined }),
      (error) => error instanceof ConflictError && error.current.document.a === 2,
    );
    assert.deepEqual(service.document(DOC), { a: 2 });
  });

  test("when others keep winning, it stops after retries + 1 writes with both versions", async () => {
    const { service, client } = setup({ retries: 2 });
    service.put(DOC, { n: 0 });
    const always = (svc) => {
      svc.put(DOC, { n: svc.counter * 100 });
      svc.beforeWrite = always;
    };
    service.beforeWrite = always;
    await assert.rejects(client.update(DOC, (doc) => ({ n: doc.n + 1 })), (error) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.attempts, 3);
      assert.ok(error.current.document.n >= 100);
      assert.equal(error.attempted.n, error.base.document.n + 1);
      return true;
    });
    service.beforeWrite = null;
    assert.equal(service.writes().length, 3);
  });

  test("a change function may be async", async () => {
    const { service, client } = setup();
    service.put(DOC, { n: 1 });
    await client.update(DOC, async (doc) => ({ n: doc.n + 1 }));
    assert.deepEqual(service.document(DOC), { n: 2 });
  });
});

describe("poll: only changes (RFC 9110 §13.1.2)", () => {
  test("yields the first version, nothing for 304s, then each change and a deletion once", async () => {
    const { service, client } = setup();
    service.put(DOC, { n: 1 });
    const controller = new AbortController();
    const seen = [];
    let rounds = 0;
    service.fail = (request) => {
      if (request.method !== "GET") return undefined;
      rounds += 1;
      if (rounds === 3) service.put(DOC, { n: 2 });
      if (rounds === 5) service.docs.delete(DOC);
      if (rounds === 7) controller.abort();
      return undefined;
    };
    for await (const version of client.poll(DOC, { interval: 1, signal: controller.signal })) {
      seen.push(version && version.document);
    }
    assert.deepEqual(seen, [{ n: 1 }, { n: 2 }, null]);
    const conditional = service.requests.filter((r) => r.headers.get("If-None-Match") !== null);
    assert.ok(conditional.length >= 2, "later polls carry If-None-Match");
  });

  test("with since, an unchanged first version is not yielded", async () => {
    const { service, client } = setup();
    const etag = service.put(DOC, { n: 1 });
    const controller = new AbortController();
    let rounds = 0;
    service.fail = () => {
      rounds += 1;
      if (rounds === 2) service.put(DOC, { n: 2 });
      return undefined;
    };
    const seen = [];
    for await (const version of client.poll(DOC, { interval: 1, since: etag, signal: controller.signal })) {
      seen.push(version.document);
      controller.abort();
    }
    assert.deepEqual(seen, [{ n: 2 }]);
  });

  test("an error stops the loop with the HttpError", async () => {
    const { service, client } = setup();
    service.fail = () => new Response("{}", { status: 401, headers: { "Content-Type": "application/problem+json" } });
    const loop = client.poll(DOC, { interval: 1 });
    await assert.rejects(loop.next(), (error) => error instanceof HttpError && error.status === 401);
  });
});

describe("threeWay and mergeFields: field by field with JSON Pointers (RFC 6901)", () => {
  const base = { title: "t", meta: { a: 1, b: 1, "x/y~": 0 }, list: [1], gone: true };
  const mine = { title: "mine", meta: { a: 2, b: 1, "x/y~": 0 }, list: [1], added: "m" };
  const theirs = { title: "theirs", meta: { a: 1, b: 3, "x/y~": 5 }, list: [1, 2], gone: true };

  test("pointers escape ~ and / (RFC 6901 §3)", () => {
    assert.equal(pointer(["a/b", "c~d", 0]), "/a~1b/c~0d/0");
    assert.equal(pointer([]), "");
  });

  test("every differing field is marked, with who changed it", () => {
    const fields = Object.fromEntries(threeWay(base, mine, theirs).map((f) => [f.path, f]));
    const marked = Object.values(fields).filter((f) => f.differs).map((f) => f.path).sort();
    assert.deepEqual(marked, ["/added", "/gone", "/list", "/meta/a", "/meta/b", "/meta/x~1y~0", "/title"]);
    assert.equal(fields["/title"].conflict, true);
    assert.equal(fields["/meta/a"].conflict, false);
    assert.equal(defaultSide(fields["/meta/a"]), "mine");
    assert.equal(defaultSide(fields["/meta/b"]), "theirs");
    assert.equal(fields["/gone"].mine, undefined);
    assert.equal(fields["/gone"].mineChanged, true);
    assert.equal(fields["/list"].theirsChanged, true);
    assert.equal(fields["/meta/x~1y~0"].differs, true);
  });

  test("all mine is exactly mine, all theirs exactly theirs", () => {
    const paths = threeWay(base, mine, theirs).map((f) => f.path);
    const all = (side) => Object.fromEntries(paths.map((path) => [path, side]));
    assert.ok(jsonEqual(mergeFields(base, mine, theirs, all("mine")), mine));
    assert.ok(jsonEqual(mergeFields(base, mine, theirs, all("theirs")), theirs));
  });

  test("the default merge takes each side's own changes, and mine where both changed", () => {
    const merged = mergeFields(base, mine, theirs);
    assert.deepEqual(merged, { title: "mine", meta: { a: 2, b: 3, "x/y~": 5 }, list: [1, 2], added: "m" });
  });

  test("per-field picks", () => {
    const merged = mergeFields(base, mine, theirs, { "/title": "theirs", "/meta/b": "mine", "/gone": "theirs" });
    assert.deepEqual(merged, {
      title: "theirs",
      meta: { a: 2, b: 1, "x/y~": 5 },
      list: [1, 2],
      added: "m",
      gone: true,
    });
  });

  test("an object on one side only, or a type change, is one field", () => {
    const fields = threeWay({ a: { x: 1 } }, { a: 5 }, { a: { x: 2 }, b: { y: 1 } });
    assert.deepEqual(fields.map((f) => f.path), ["/a", "/b"]);
    assert.deepEqual(mergeFields({ a: { x: 1 } }, { a: 5 }, { a: { x: 2 } }, { "/a": "theirs" }), { a: { x: 2 } });
  });

  test("documents that are not objects compare whole, at the root pointer", () => {
    const fields = threeWay([1], [1, 2], "x");
    assert.deepEqual(fields.map((f) => f.path), [""]);
    assert.deepEqual(mergeFields([1], [1, 2], "x", { "": "theirs" }), "x");
  });

  test("empty objects survive a merge", () => {
    assert.deepEqual(mergeFields({ e: {} }, { e: {}, n: 1 }, { e: {} }), { e: {}, n: 1 });
  });

  test("jsonEqual ignores key order and distinguishes arrays from objects", () => {
    assert.ok(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
    assert.ok(!jsonEqual([], {}));
    assert.ok(!jsonEqual({ a: undefined }, {}));
    assert.ok(!jsonEqual(null, {}));
  });
});

test("describeStatus: status, meaning and the service's detail in words", () => {
  const text = describeStatus("PUT", "/api/a/b", 412, { title: "Precondition Failed", detail: "If-Match failed" });
  assert.equal(
    text,
    "PUT /api/a/b: 412 Precondition Failed: someone else changed it since you read it. The service says: If-Match failed.",
  );
});
