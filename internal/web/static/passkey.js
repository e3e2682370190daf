// Passkeys: sign in with one (alone, or as the second factor of a password
// login) and add one from the account security page. The server sends
// WebAuthn options as JSON with base64url fields; the browser API wants
// ArrayBuffers, and the answer goes back as base64url again.

const fromB64 = (s) => {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
};
const toB64 = (buf) =>
  btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function postJSON(url, body) {
  const res = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try {
    data = await res.json();
  } catch {
    data = {};
  }
  return { ok: res.ok, data };
}

function showError(button, text) {
  const out = button.parentElement.querySelector("[data-passkey-error]");
  if (out) {
    out.textContent = text;
    out.hidden = false;
  }
}

async function login(button) {
  const begin = await postJSON("/login/passkey/begin");
  if (!begin.ok) throw new Error(begin.data.error || "");
  const pk = begin.data.options.publicKey;
  pk.challenge = fromB64(pk.challenge);
  (pk.allowCredentials || []).forEach((c) => (c.id = fromB64(c.id)));
  const cred = await navigator.credentials.get({ publicKey: pk });
  const r = cred.response;
  const body = {
    id: cred.id,
    rawId: toB64(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: toB64(r.clientDataJSON),
      authenticatorData: toB64(r.authenticatorData),
      signature: toB64(r.signature),
      userHandle: r.userHandle ? toB64(r.userHandle) : null,
    },
  };
  const next = button.dataset.next || "/";
  const url = "/login/passkey/finish?flow=" + encodeURIComponent(begin.data.flow) + "&next=" + encodeURIComponent(next);
  const done = await postJSON(url, body);
  if (!done.ok) throw new Error(done.data.error || "");
  location.assign(done.data.next);
}

async function register() {
  const begin = await postJSON("/account/security/passkey-begin");
  if (!begin.ok) throw new Error(begin.data.error || "");
  const pk = begin.data.options.publicKey;
  pk.challenge = fromB64(pk.challenge);
  pk.user.id = fromB64(pk.user.id);
  (pk.excludeCredentials || []).forEach((c) => (c.id = fromB64(c.id)));
  const cred = await navigator.credentials.create({ publicKey: pk });
  const r = cred.response;
  const body = {
    id: cred.id,
    rawId: toB64(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: toB64(r.clientDataJSON),
      attestationObject: toB64(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : [],
    },
  };
  const name = (document.getElementById("passkey-name") || {}).value || "";
  const url = "/account/security/passkey-finish?flow=" + encodeURIComponent(begin.data.flow) + "&name=" + encodeURIComponent(name);
  const done = await postJSON(url, body);
  if (!done.ok) throw new Error(done.data.error || "");
  location.assign(done.data.next);
}

for (const button of document.querySelectorAll("[data-passkey]")) {
  if (!window.PublicKeyCredential) {
    button.disabled = true;
    continue;
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await (button.dataset.passkey === "register" ? register() : login(button));
    } catch (err) {
      showError(button, err.message || button.dataset.failed || "");
      button.disabled = false;
    }
  });
}
