// "Notifications sur cet appareil": asks the browser's permission,
// subscribes this browser to Web Push with the installation's public key
// (the section's data-key) and tells the server; or undoes both. What is
// shown when mail arrives is in sw.js: that a message is waiting, where,
// and a link, nothing of the message.
export function initPush(root) {
  const box = root.getElementById("push");
  if (!box) return;
  box.hidden = false;
  const state = box.querySelector(".push-state");
  const on = box.querySelector('[data-push="on"]');
  const off = box.querySelector('[data-push="off"]');
  // show writes the state; subscribed says which button to offer (none
  // when it is neither true nor false).
  const show = (key, subscribed) => {
    state.textContent = box.dataset[key];
    on.hidden = subscribed !== false;
    off.hidden = subscribed !== true;
  };
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    show("unsupported", null);
    return;
  }
  const post = async (path, body) => {
    const r = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
  };
  const current = async () => (await navigator.serviceWorker.ready).pushManager.getSubscription();

  on.addEventListener("click", async () => {
    on.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        show("denied", null);
        return;
      }
      const reg = await navigator.serviceWorker.ready;
      const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: decodeKey(box.dataset.key) });
      await post("/account/push/subscribe", sub.toJSON());
      show("on", true);
    } catch {
      show("failed", false);
    } finally {
      on.disabled = false;
    }
  });
  off.addEventListener("click", async () => {
    off.disabled = true;
    try {
      const sub = await current();
      if (sub) {
        await post("/account/push/unsubscribe", { endpoint: sub.endpoint });
        await sub.unsubscribe();
      }
      show("off", false);
    } catch {
      show("failed", true);
    } finally {
      off.disabled = false;
    }
  });

  show(Notification.permission === "denied" ? "denied" : "off", Notification.permission === "denied" ? null : false);
  current().then(async (sub) => {
    if (!sub || Notification.permission !== "granted") return;
    // Told again each visit: the server forgets a browser its push service
    // said was gone, and this one may have been renewed since.
    await post("/account/push/subscribe", sub.toJSON());
    show("on", true);
  }).catch(() => {});
}

// decodeKey turns the base64url public key into the bytes subscribe wants.
function decodeKey(b64url) {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
