// The ifmatch page: browse collections, edit a document, merge a conflict.
//
// Plain DOM over the ifmatch.js module; no framework, nothing inline (the
// page's Content-Security-Policy allows scripts and requests from this
// origin only).  Text is always set with textContent, never parsed as HTML.
// Routes: #/ (start), #/api/<collection>, #/api/<collection>/<name>.
// ?poll=<ms> sets the polling interval (default 3000 ms).

import {
  Client,
  ConflictError,
  HttpError,
  NetworkError,
  defaultSide,
  jsonEqual,
  mergeFields,
  threeWay,
} from "/ifmatch.js";

const TOKEN_KEY = "ifmatch.token";
const RECENT_KEY = "ifmatch.collections";
const NAME = /^[A-Za-z0-9._~-]{1,128}$/;
const POLL_MS = Math.max(100, Number(new URLSearchParams(location.search).get("poll")) || 3000);

const $ = (id) => document.getElementById(id);
const client = new Client({ base: location.origin + "/", token: () => sessionStorage.getItem(TOKEN_KEY) });

const state = {
  collection: null,
  url: null, // the open document's path
  base: null, // the Version the edit started from
  conflict: null, // { base, mine, theirs, picks, fields, again }
  poller: null, // AbortController of the running poll
  theirs: null, // a newer Version seen by polling (or null: deleted), undefined if none
};

// -- small helpers ---------------------------------------------------------------

function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

const pretty = (value) => JSON.stringify(value, null, 2);
const show = (node, visible) => {
  node.hidden = !visible;
};

function say(text) {
  $("status").textContent = text;
}

function shortValue(value) {
  if (value === undefined) return "(absent)";
  const text = JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

// -- errors in words -------------------------------------------------------------

const ADVICE = {
  401: "The service needs a token. Type it in the Token field at the top and press Use.",
  403: "This token is not allowed to do that.",
  404: "It does not exist (any more). It may have been deleted elsewhere.",
  409: "The change does not apply to the current version.",
  412: "Someone else changed it since you read it. Reload to see their version.",
  413: "It is larger than the service accepts.",
  415: "The service does not accept this kind of content.",
  428: "The service only accepts this change with If-Match, the version it replaces. Reload the document and save again.",
};

function explain(action, error) {
  if (error instanceof NetworkError) {
    return {
      title: `${action}: the service could not be reached`,
      detail: "The request got no answer. Check that the service is running and your connection, then try again.",
    };
  }
  if (error instanceof HttpError) {
    const problem = error.problem || {};
    const heading = problem.title ? `${error.status} ${problem.title}` : `HTTP ${error.status}`;
    const said = typeof problem.detail === "string" && problem.detail ? ` The service says: “${problem.detail}”.` : "";
    const advice = ADVICE[error.status] || (error.status >= 500 ? "The service failed; try again shortly." : "");
    return { title: `${action} failed: ${heading}`, detail: `${advice}${said}`.trim() };
  }
  return { title: `${action} failed`, detail: String(error && error.message ? error.message : error) };
}

function showError(action, error) {
  const { title, detail } = explain(action, error);
  $("error-title").textContent = title;
  $("error-detail").textContent = detail;
  show($("error"), true);
  say(title);
}

function clearError() {
  show($("error"), false);
}

// -- token -------------------------------------------------------------------------

function setupToken() {
  $("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    client.forget();
    clearError();
    say(token ? "Token kept for this tab." : "Token removed.");
    route();
  });
}

// -- collections ---------------------------------------------------------------------

function recent() {
  try {
    const names = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(names) ? names.filter((name) => NAME.test(name)) : [];
  } catch {
    return [];
  }
}

function remember(collection) {
  const names = [collection, ...recent().filter((name) => name !== collection)].slice(0, 20);
  localStorage.setItem(RECENT_KEY, JSON.stringify(names));
}

async function renderCollections() {
  let names = recent();
  try {
    const listing = await client.get("/api");
    if (Array.isArray(listing.document?.collections)) {
      names = [...new Set([...listing.document.collections.map((c) => c.name ?? c), ...names])];
    }
  } catch {
    // An older service lists no collections: the ones opened here still show.
  }
  const list = $("collections");
  list.replaceChildren(
    ...names.map((name) =>
      element(
        "li",
        {},
        element("a", {
          href: `#/api/${encodeURIComponent(name)}`,
          textContent: name,
          "aria-current": name === state.collection ? "page" : "false",
        }),
      ),
    ),
  );
  if (!names.length) list.append(element("li", { class: "empty", textContent: "None opened yet." }));
}

/** How many documents the collection view asks for at a time: a collection of any size
 * opens as fast as a small one (the service's pages, each with its own validator). */
const PAGE_SIZE = 100;

function documentItem(collection, item) {
  return element(
    "li",
    {},
    element(
      "a",
      { href: `#/api/${encodeURIComponent(collection)}/${encodeURIComponent(item.id)}` },
      element("span", { class: "name", textContent: item.id }),
      element("span", { class: "snippet", textContent: shortValue(item.document) }),
    ),
    element("code", { class: "tag", textContent: item.etag }),
  );
}

async function openCollection(collection) {
  state.collection = collection;
  remember(collection);
  renderCollections();
  showPanel("collection-view");
  $("collection-title").textContent = collection;
  const list = $("documents");
  list.replaceChildren(element("li", { class: "empty", textContent: "Loading…" }));
  $("more").hidden = true;
  await showPage(collection, `/api/${encodeURIComponent(collection)}?limit=${PAGE_SIZE}`, true);
}

/** Show one page of a collection's documents (the first replaces the list, the next ones
 * append), and a "Show more" button while its `next` names another. */
async function showPage(collection, url, first) {
  const list = $("documents");
  const more = $("more");
  more.disabled = true;
  try {
    const page = await client.get(url);
    if (state.collection !== collection) return; // the reader went elsewhere meanwhile
    const items = page.document.items || [];
    if (first) list.replaceChildren();
    list.append(...items.map((item) => documentItem(collection, item)));
    const shown = list.querySelectorAll("a").length;
    if (!shown) list.append(element("li", { class: "empty", textContent: "No documents yet: create one below." }));
    const next = page.document.next;
    more.hidden = !next;
    more.onclick = next ? () => showPage(collection, next, false) : null;
    say(`${collection}: ${shown} document(s)${next ? " shown, more follow" : ""}`);
  } catch (error) {
    if (first) list.replaceChildren();
    showError(`Listing ${collection}`, error);
  } finally {
    more.disabled = false;
  }
}

async function createDocument(event) {
  event.preventDefault();
  clearError();
  const name = $("new-name").value.trim();
  let value;
  try {
    value = JSON.parse($("new-json").value);
  } catch (error) {
    showError("Creating", { message: `The JSON is not valid: ${error.message}` });
    return;
  }
  const url = `/api/${encodeURIComponent(state.collection)}/${encodeURIComponent(name)}`;
  try {
    await client.create(url, value);
    location.hash = `#${url}`;
    say(`Created ${name}.`);
  } catch (error) {
    if (error instanceof ConflictError) {
      showError(`Creating ${name}`, {
        message: `A document named “${name}” already exists; nothing was replaced. Open it to edit it.`,
      });
    } else {
      showError(`Creating ${name}`, error);
    }
  }
}

// -- the document ------------------------------------------------------------------

function showPanel(id) {
  for (const panel of ["welcome", "collection-view", "document-view"]) show($(panel), panel === id);
}

function setBase(version) {
  state.base = version;
  state.theirs = undefined;
  $("doc-etag").textContent = version.etag || "(none)";
  $("doc-modified").textContent = version.lastModified ? `saved ${version.lastModified}` : "";
  show($("changed"), false);
}

function setEditor(value) {
  $("editor").value = pretty(value);
  updateDirty();
}

function editorValue() {
  return JSON.parse($("editor").value);
}

function updateDirty() {
  let dirty = true;
  try {
    dirty = state.base !== null && !jsonEqual(editorValue(), state.base.document);
  } catch {
    dirty = true;
  }
  show($("dirty"), dirty);
  return dirty;
}

async function openDocument(collection, name) {
  stopPolling();
  state.collection = collection;
  remember(collection);
  renderCollections();
  state.url = `/api/${encodeURIComponent(collection)}/${encodeURIComponent(name)}`;
  state.base = null;
  closeConflict();
  showPanel("document-view");
  $("doc-title").textContent = name;
  $("doc-collection").textContent = collection;
  $("doc-collection").href = `#/api/${encodeURIComponent(collection)}`;
  $("editor").value = "";
  try {
    const version = await client.get(state.url);
    setBase(version);
    setEditor(version.document);
    say(`Opened ${collection}/${name} at version ${version.etag}.`);
    startPolling();
  } catch (error) {
    $("doc-etag").textContent = "";
    showError(`Opening ${collection}/${name}`, error);
  }
}

async function save() {
  clearError();
  if (!state.base) return;
  let mine;
  try {
    mine = editorValue();
  } catch (error) {
    showError("Saving", { message: `The JSON is not valid: ${error.message}. Nothing was sent.` });
    return;
  }
  $("save").disabled = true;
  try {
    const version = await client.save(state.url, mine, { etag: state.base.etag, base: state.base });
    setBase(version);
    setEditor(version.document);
    say(`Saved: now at version ${version.etag}.`);
    startPolling();
  } catch (error) {
    if (error instanceof ConflictError) openConflict(state.base, mine, error.current, false);
    else showError("Saving", error);
  } finally {
    $("save").disabled = false;
  }
}

let deleteArmed = null;

async function remove() {
  clearError();
  if (!state.base) return;
  const button = $("delete");
  if (!deleteArmed) {
    button.textContent = "Really delete?";
    deleteArmed = setTimeout(() => {
      button.textContent = "Delete";
      deleteArmed = null;
    }, 5000);
    return;
  }
  clearTimeout(deleteArmed);
  deleteArmed = null;
  button.textContent = "Delete";
  try {
    await client.remove(state.url, { etag: state.base.etag });
    stopPolling();
    say("Deleted.");
    location.hash = `#/api/${encodeURIComponent(state.collection)}`;
  } catch (error) {
    if (error instanceof ConflictError) {
      showError("Deleting", {
        message: "Not deleted: someone else changed the document since you opened it. Reload to see their version first.",
      });
      noticeTheirs(error.current);
    } else {
      showError("Deleting", error);
    }
  }
}

async function reload() {
  clearError();
  try {
    const version = await client.get(state.url);
    closeConflict();
    setBase(version);
    setEditor(version.document);
    say(`Reloaded: version ${version.etag}.`);
    startPolling();
  } catch (error) {
    showError("Reloading", error);
  }
}

// -- polling: "changed elsewhere" -----------------------------------------------------

function stopPolling() {
  state.poller?.abort();
  state.poller = null;
}

function startPolling() {
  stopPolling();
  if (!state.base || !state.url) return;
  const controller = new AbortController();
  state.poller = controller;
  const url = state.url;
  (async () => {
    while (!controller.signal.aborted) {
      try {
        for await (const version of client.poll(url, {
          interval: POLL_MS,
          since: state.base.etag,
          signal: controller.signal,
        })) {
          if (controller.signal.aborted || url !== state.url) return;
          noticeTheirs(version);
        }
        return;
      } catch (error) {
        if (controller.signal.aborted) return;
        say(`Could not check for changes (${error.message}); trying again.`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS * 2));
      }
    }
  })();
}

function noticeTheirs(version) {
  if (version && state.base && version.etag === state.base.etag) return;
  state.theirs = version;
  const text = version
    ? `Changed elsewhere: the service now has version ${version.etag}. ` +
      (updateDirty()
        ? "Your edit is kept; when you save you will see both versions and choose."
        : "You have no unsaved changes: load their version to continue from it.")
    : "Deleted elsewhere: this document no longer exists on the service. Saving will offer to create it again.";
  $("changed-text").textContent = text;
  show($("load-theirs"), Boolean(version));
  show($("changed"), true);
}

function loadTheirs() {
  if (!state.theirs) return;
  closeConflict();
  setBase(state.theirs);
  setEditor(state.base.document);
  say(`Loaded version ${state.base.etag}.`);
  startPolling();
}

// -- the conflict view ------------------------------------------------------------------

function openConflict(base, mine, theirs, again) {
  stopPolling();
  const fields = threeWay(base.document, mine, theirs ? theirs.document : undefined);
  const picks = {};
  for (const field of fields) if (field.differs) picks[field.path] = defaultSide(field);
  state.conflict = { base, mine, theirs, fields, picks };
  show($("editing"), false);
  show($("changed"), false);
  show($("conflict"), true);
  const differing = fields.filter((field) => field.differs).length;
  $("conflict-title").textContent = again
    ? "It changed again while you merged"
    : "Someone else saved this document while you were editing";
  $("conflict-text").textContent = theirs
    ? `Nothing was overwritten. The service has version ${theirs.etag}; ${differing} field(s) differ from yours ` +
      "(marked). Fields only one side changed are preselected from that side. " +
      "Choose per field, or keep all of yours or all of theirs, then save: it is sent against their version."
    : "Nothing was overwritten: the document was deleted elsewhere. Keep yours to create it again.";
  renderConflict();
  $("keep-mine").focus();
  say(`Conflict: ${differing} field(s) differ.`);
}

function renderConflict() {
  const { fields, picks } = state.conflict;
  const rows = fields.map((field) => {
    const row = element("div", {
      class: ["field", field.differs ? "differs" : "same", field.conflict ? "both" : ""].join(" ").trim(),
      role: "row",
      dataset: { path: field.path, differs: String(field.differs) },
    });
    const label = element(
      "span",
      { class: "path", role: "rowheader" },
      element("code", { textContent: field.path || "(whole document)" }),
      field.conflict ? element("span", { class: "badge", textContent: "both changed" }) : null,
      field.differs && !field.conflict ? element("span", { class: "badge soft", textContent: "differs" }) : null,
    );
    const baseCell = element("span", { class: "value base", role: "cell" }, element("code", { textContent: shortValue(field.base) }));
    row.append(label, baseCell);
    for (const side of ["mine", "theirs"]) {
      const value = field[side];
      if (!field.differs) {
        row.append(element("span", { class: "value", role: "cell" }, element("code", { textContent: shortValue(value) })));
        continue;
      }
      const chosen = picks[field.path] === side;
      const button = element(
        "button",
        {
          type: "button",
          class: `choice ${side}${chosen ? " chosen" : ""}`,
          dataset: { testid: "field-choice", path: field.path, side },
          "aria-pressed": String(chosen),
          title: `Use ${side === "mine" ? "your" : "their"} value for ${field.path || "the whole document"}`,
        },
        element("span", { class: "which", textContent: side === "mine" ? "yours" : "theirs" }),
        element("code", { textContent: shortValue(value) }),
      );
      button.addEventListener("click", () => {
        picks[field.path] = side;
        renderConflict();
        document.querySelector(`[data-testid="field-choice"][data-path="${CSS.escape(field.path)}"][data-side="${side}"]`)?.focus();
      });
      row.append(element("span", { role: "cell" }, button));
    }
    return row;
  });
  $("conflict-fields").replaceChildren(...rows);
  const merged = mergedDocument();
  $("merge-preview").textContent = merged === undefined ? "(nothing: the document stays deleted)" : pretty(merged);
}

function pickAll(side) {
  const { fields, picks } = state.conflict;
  for (const field of fields) if (field.differs) picks[field.path] = side;
  renderConflict();
  say(side === "mine" ? "All fields: yours." : "All fields: theirs.");
}

function mergedDocument() {
  const { base, mine, theirs, picks } = state.conflict;
  return mergeFields(base.document, mine, theirs ? theirs.document : undefined, picks);
}

function closeConflict() {
  state.conflict = null;
  show($("conflict"), false);
  show($("editing"), true);
}

async function mergeSave() {
  clearError();
  const { theirs } = state.conflict;
  const merged = mergedDocument();
  $("merge-save").disabled = true;
  try {
    let version;
    if (theirs === null) {
      if (merged === undefined) {
        closeConflict();
        say("Left deleted.");
        location.hash = `#/api/${encodeURIComponent(state.collection)}`;
        return;
      }
      version = await client.create(state.url, merged);
    } else {
      version = await client.save(state.url, merged, { etag: theirs.etag, base: theirs });
    }
    closeConflict();
    setBase(version);
    setEditor(version.document);
    say(`Merged and saved: now at version ${version.etag}.`);
    startPolling();
  } catch (error) {
    if (error instanceof ConflictError) {
      openConflict(theirs ?? { document: undefined, etag: null }, merged, error.current, true);
    } else {
      showError("Saving the merge", error);
    }
  } finally {
    $("merge-save").disabled = false;
  }
}

function backToEdit() {
  const { mine, theirs } = state.conflict;
  closeConflict();
  $("editor").value = pretty(mine);
  updateDirty();
  if (theirs !== undefined) noticeTheirs(theirs);
  startPolling();
  $("editor").focus();
}

// -- routing ---------------------------------------------------------------------------

function route() {
  clearError();
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "api" && parts.length === 3 && NAME.test(parts[1]) && NAME.test(parts[2])) {
    openDocument(parts[1], parts[2]);
  } else if (parts[0] === "api" && parts.length === 2 && NAME.test(parts[1])) {
    stopPolling();
    openCollection(parts[1]);
  } else {
    stopPolling();
    state.collection = null;
    showPanel("welcome");
    renderCollections();
  }
}

function setup() {
  setupToken();
  $("error-close").addEventListener("click", clearError);
  $("open-collection").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/api/${encodeURIComponent($("collection-name").value.trim())}`;
  });
  $("create-form").addEventListener("submit", createDocument);
  $("save").addEventListener("click", save);
  $("reload").addEventListener("click", reload);
  $("delete").addEventListener("click", remove);
  $("load-theirs").addEventListener("click", loadTheirs);
  $("editor").addEventListener("input", updateDirty);
  $("editor").addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault();
      save();
    }
  });
  $("keep-mine").addEventListener("click", () => pickAll("mine"));
  $("take-theirs").addEventListener("click", () => pickAll("theirs"));
  $("merge-save").addEventListener("click", mergeSave);
  $("merge-cancel").addEventListener("click", backToEdit);
  window.addEventListener("hashchange", route);
  route();
}

setup();
