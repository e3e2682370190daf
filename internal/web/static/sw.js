// Service worker: caches the application shell (styles, scripts, icons,
// the offline page) and nothing else. Message lists, messages and
// attachments always come from the network and are never stored here.
// It also shows the Web Push notifications of new mail: the server sends
// only that a message is waiting, in which mailbox, and the path to open.
const VERSION = "{{.Version}}";
const SHELL = {{.Shell}};
const CACHE = `caduceus-shell-${VERSION}`;

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    e.respondWith(caches.match(e.request, { ignoreSearch: true }).then((hit) => hit || fetch(e.request)));
    return;
  }
  if (e.request.mode === "navigate") {
    e.respondWith(fetch(e.request).catch(() => caches.match("/static/offline.html")));
  }
});

self.addEventListener("push", (e) => {
  let d = {};
  try {
    d = e.data ? e.data.json() : {};
  } catch {
    d = {};
  }
  e.waitUntil(self.registration.showNotification(d.title || "Messagerie sécurisée", {
    body: d.body || "",
    icon: "/icons/192.png",
    tag: d.tag || "new-mail",
    data: { url: typeof d.url === "string" ? d.url : "/" },
  }));
});

self.addEventListener("notificationclick", (e) => {
  e.notification.close();
  // Only a path of this app is opened, whatever the payload says.
  const url = new URL(e.notification.data && e.notification.data.url || "/", location.origin);
  const target = url.origin === location.origin ? url.href : location.origin + "/";
  e.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((list) => {
    for (const c of list) {
      if (new URL(c.url).origin === location.origin && "navigate" in c) {
        return c.focus().then(() => c.navigate(target));
      }
    }
    return self.clients.openWindow(target);
  }));
});

// A browser that renews its subscription subscribes again with the same
// key and tells the server; the old endpoint is forgotten when its push
// service answers that it is gone.
self.addEventListener("pushsubscriptionchange", (e) => {
  const key = e.oldSubscription && e.oldSubscription.options.applicationServerKey;
  if (!key) return;
  e.waitUntil(self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key })
    .then((sub) => fetch("/account/push/subscribe", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(sub.toJSON()),
    })));
});
