// The mail panes: opening a message, acting on it and paging replace the
// panes in place from the server's JSON instead of loading a whole page;
// new mail shows up through server-sent events; arrow keys move in the list.

export function initMail(doc) {
  const body = doc.body;
  if (!body.classList.contains("mail-page") || !doc.querySelector("[data-list]")) return;

  doc.addEventListener("click", (e) => {
    const link = e.target.closest("[data-open], .pager a, .back");
    if (!link || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(doc, link.href, true);
  });

  doc.addEventListener("submit", (e) => {
    const form = e.target.closest("[data-action]");
    if (!form) return;
    e.preventDefault();
    act(doc, form);
  });

  doc.addEventListener("keydown", (e) => listKeys(doc, e));
  window.addEventListener("popstate", () => navigate(doc, location.href, false));

  const events = body.dataset.events;
  if (events && "EventSource" in window) listen(doc, events);
}

// navigate fetches the panes of url and swaps them in.
async function navigate(doc, url, push) {
  const panes = await fetchPanes(url, { headers: { "X-Partial": "panes" } });
  if (!panes) {
    location.href = url;
    return;
  }
  swap(doc, panes, { reader: true });
  if (push) history.pushState(null, "", panes.url || url);
  doc.querySelector("[data-reader] h2, [data-list] h1")?.focus?.();
}

async function act(doc, form) {
  const panes = await fetchPanes(form.getAttribute("action"), {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    headers: { "X-Partial": "panes" },
  });
  if (!panes) {
    form.submit();
    return;
  }
  swap(doc, panes, { reader: true });
  if (panes.url) history.replaceState(null, "", panes.url);
}

async function fetchPanes(url, init) {
  try {
    const res = await fetch(url, { credentials: "same-origin", ...init });
    if (!res.ok || !res.headers.get("Content-Type")?.startsWith("application/json")) return null;
    return await res.json();
  } catch {
    return null;
  }
}

// swap replaces the folder list, the message list and, when asked, the
// reading pane with fresh server-rendered HTML.
function swap(doc, panes, { reader }) {
  replace(doc, doc.querySelector("[data-folders]"), panes.folders);
  const list = doc.querySelector("[data-list]");
  const scroll = list?.scrollTop;
  if (replace(doc, list, panes.list)) list.scrollTop = scroll;
  if (reader && panes.reader !== undefined) {
    doc.querySelector("[data-reader]").innerHTML = panes.reader;
    doc.body.classList.toggle("has-message", Boolean(panes.hasMessage));
  }
  if (panes.title) doc.title = panes.title;
  if (panes.flash) announce(doc, panes.flash);
}

// replace sets the HTML of el unless it already shows the same, so that a
// refresh that changes nothing keeps the focus and the nodes in place.
function replace(doc, el, html) {
  if (!el || html === undefined) return false;
  const fresh = doc.createElement("template");
  fresh.innerHTML = html;
  if (fresh.innerHTML === el.innerHTML) return false;
  el.innerHTML = html;
  return true;
}

function announce(doc, text) {
  const live = doc.querySelector("[data-live]");
  if (!live) return;
  live.textContent = text;
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { live.textContent = ""; }, 4000);
}

// listen refreshes the folders and the list when the mailbox changes,
// keeping the open message as it is.
function listen(doc, url) {
  const source = new EventSource(url);
  source.addEventListener("open", () => { doc.body.dataset.listening = "1"; });
  let pending = false;
  source.addEventListener("change", async (e) => {
    if (pending) return;
    pending = true;
    const panes = await fetchPanes(location.href, { headers: { "X-Partial": "lists" } });
    pending = false;
    if (!panes) return;
    swap(doc, panes, { reader: false });
    if (e.data === "new" && panes.newMail) announce(doc, panes.newMail);
  });
}

// listKeys moves between messages with the arrow keys (or j and k) when
// the focus is in the list.
function listKeys(doc, e) {
  const current = e.target.closest?.(".row a");
  if (!current || e.altKey || e.ctrlKey || e.metaKey) return;
  const step = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 }[e.key];
  if (!step) return;
  const rows = [...doc.querySelectorAll(".row a")];
  const next = rows[rows.indexOf(current) + step];
  if (next) {
    e.preventDefault();
    next.focus();
  }
}
