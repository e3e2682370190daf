// Entry module: wires the account menu, the folder drawer, the mail panes,
// the compose form, the device's notifications and the service worker. Every feature works without
// JavaScript; these modules only make it quicker.
import { initMenus } from "./menu.js";
import { initMail } from "./mail.js";
import { initCompose } from "./compose.js";
import { initPush } from "./push.js";

initMenus(document);
initMail(document);
initCompose(document);
initPush(document);
document.body.dataset.ready = "1";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}
