// The compose form: recipient suggestions (favourites, the directory, then
// local accounts), the directory picker behind the A: and CC: labels, the
// signature, attachments with a size check and upload progress. Enter in a
// recipient field completes the address and Enter in the subject goes to
// the text: neither ever sends (the browser's implicit submission would
// press "Envoyer"); sending with no subject or no text asks first.

export function initCompose(doc) {
  const form = doc.querySelector("[data-compose]");
  if (!form) return;
  const box = doc.body.dataset.box;
  const suggestURL = `/mail/${box}/suggest?q=`;
  form.querySelectorAll("[data-recipients]").forEach((input) => suggest(doc, input, suggestURL));
  const subject = form.querySelector("#subject");
  subject?.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.isComposing) return;
    e.preventDefault();
    nextField(e.target);
  });
  noImplicitSubmit(subject);
  picker(doc, form, suggestURL);
  signature(form);
  attachments(doc, form);
}

async function lookup(url, q) {
  try {
    const res = await fetch(url + encodeURIComponent(q), { credentials: "same-origin" });
    return res.ok ? await res.json() : [];
  } catch {
    return [];
  }
}

// directory searches the directory by name and criteria for entries with
// a mailbox, as the picker shows them; a refused search gives an empty list
// with the reason in its error property.
async function directory(url, text, criteria) {
  const params = new URLSearchParams({ with_mailbox: "1", q: text });
  criteria.forEach((c) => params.set(c.dataset.pickerCriterion, c.value.trim()));
  try {
    const res = await fetch(`${url}?${params}`, { credentials: "same-origin" });
    // A search the directory refuses (too broad) says why.
    if (res.status === 400) return Object.assign([], { error: (await res.json()).error });
    if (!res.ok) return [];
    return (await res.json()).entries.map(asPerson);
  } catch {
    return [];
  }
}

// favourites lists the person's favourites that have a mailbox.
async function favourites(url) {
  try {
    const res = await fetch(url, { credentials: "same-origin" });
    return res.ok ? (await res.json()).filter((e) => e.mailbox).map(asPerson) : [];
  } catch {
    return [];
  }
}

// asPerson turns a directory entry into a person of the picker.
function asPerson(e) {
  return {
    name: e.name,
    address: e.mailbox,
    meta: [e.profession_label, e.specialty_label, e.city].filter(Boolean).join(" · "),
  };
}

function lastToken(value) {
  const i = value.lastIndexOf(",");
  return value.slice(i + 1).trim();
}

function replaceLast(value, address) {
  const i = value.lastIndexOf(",");
  const head = i < 0 ? "" : value.slice(0, i + 1) + " ";
  return head + address + ", ";
}

// completeLast ends the value with ", " after its last address, so that
// the next one can be typed: "a@x.fr" gives "a@x.fr, ".
function completeLast(value) {
  return value.split(",").map((s) => s.trim()).filter(Boolean).join(", ") + ", ";
}

// noImplicitSubmit keeps Enter in input from submitting the form. The
// keydown handlers cancel it already in a browser, where a cancelled
// keydown has no keypress; a keypress that comes on its own (automation,
// some input methods) must not submit either.
function noImplicitSubmit(input) {
  input?.addEventListener("keypress", (e) => {
    if (e.key === "Enter") e.preventDefault();
  });
}

// nextField moves the focus to the field after input among the recipients,
// the subject and the text.
function nextField(input) {
  const fields = [...input.form.querySelectorAll("[data-recipients], #subject, [data-body]")];
  fields[fields.indexOf(input) + 1]?.focus();
}

function appendAddress(input, address) {
  const parts = input.value.split(",").map((s) => s.trim()).filter(Boolean);
  if (!parts.includes(address)) parts.push(address);
  input.value = parts.join(", ");
}

// suggest shows a listbox of matching people under a recipients field.
function suggest(doc, input, url) {
  const list = doc.createElement("ul");
  list.className = "suggest";
  list.id = input.id + "-suggest";
  list.setAttribute("role", "listbox");
  list.hidden = true;
  input.after(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  let items = [];
  let active = -1;
  let seq = 0;

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const choose = (i) => {
    input.value = replaceLast(input.value, items[i].address);
    close();
    input.focus();
  };
  const highlight = (i) => {
    active = i;
    [...list.children].forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    if (i >= 0) input.setAttribute("aria-activedescendant", list.children[i].id);
  };

  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(show, 150);
  });
  const show = async () => {
    const q = lastToken(input.value);
    if (q.length < 2) return close();
    const mine = ++seq;
    const found = await lookup(url, q);
    // A lookup that answers after the person has moved on opens nothing:
    // the list would cover the next field.
    if (mine !== seq || doc.activeElement !== input) return;
    items = found;
    list.replaceChildren(...items.map((p, i) => {
      const li = doc.createElement("li");
      li.id = `${list.id}-${i}`;
      li.setAttribute("role", "option");
      li.dataset.address = p.address;
      const name = doc.createElement("span");
      name.textContent = p.name ? `${p.name} ` : "";
      const who = doc.createElement("span");
      who.className = "who";
      who.textContent = p.name ? `<${p.address}>` : p.address;
      li.append(name, who);
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();
        choose(i);
      });
      return li;
    }));
    list.hidden = items.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
    highlight(-1);
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing) {
      // Enter completes the address, never sends the message: the
      // highlighted suggestion, the first one for a name typed in part, or
      // the address as typed; with nothing typed it moves on.
      e.preventDefault();
      if (!list.hidden && active >= 0) return choose(active);
      if (!list.hidden && items.length > 0 && !lastToken(input.value).includes("@")) return choose(0);
      close();
      if (lastToken(input.value)) input.value = completeLast(input.value);
      else nextField(input);
      return;
    }
    if (list.hidden) return;
    if (e.key === "ArrowDown") {
      e.preventDefault();
      highlight(Math.min(active + 1, items.length - 1));
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      highlight(Math.max(active - 1, 0));
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => {
    clearTimeout(timer);
    setTimeout(close, 150);
  });
  noImplicitSubmit(input);
}

// picker is the directory dialog opened from the A: and CC: labels: the
// favourites first, then search, add each person to A: or CC:, then
// "Valider".
function picker(doc, form, url) {
  const dialog = doc.querySelector("[data-picker-dialog]");
  if (!dialog || typeof dialog.showModal !== "function") return;
  const labels = doc.getElementById("picker-labels").dataset;
  const q = dialog.querySelector("[data-picker-q]");
  const results = dialog.querySelector("[data-picker-results]");
  const none = dialog.querySelector("[data-picker-none]");
  const criteria = [...dialog.querySelectorAll("[data-picker-criterion]")];
  const noneText = none.textContent;
  const chosen = { to: [], cc: [] };
  const show = () => {
    dialog.querySelector("[data-picker-to]").textContent = chosen.to.join(", ");
    dialog.querySelector("[data-picker-cc]").textContent = chosen.cc.join(", ");
  };
  form.querySelectorAll("[data-picker]").forEach((b) => b.addEventListener("click", () => {
    chosen.to = [];
    chosen.cc = [];
    show();
    q.value = "";
    criteria.forEach((c) => { c.value = ""; });
    results.replaceChildren();
    none.hidden = true;
    dialog.showModal();
    q.focus();
    search();
  }));
  let seq = 0;
  // search shows what matches the name and criteria, or the favourites
  // while nothing is asked.
  const search = async () => {
    const mine = ++seq;
    const text = q.value.trim();
    const given = criteria.some((c) => c.value.trim() !== "");
    const asked = text.length >= 2 || given;
    let found = [];
    if (asked) {
      found = form.dataset.directory ? await directory(form.dataset.directory, text, criteria) : await lookup(url, text);
    } else if (form.dataset.favourites) {
      found = await favourites(form.dataset.favourites);
    }
    if (mine !== seq) return;
    none.textContent = found.error || noneText;
    none.hidden = found.length > 0 || !asked;
    results.replaceChildren(...found.map((p) => {
      const li = doc.createElement("li");
      const who = doc.createElement("span");
      who.className = "who";
      who.textContent = p.name || p.address;
      const addr = doc.createElement("small");
      addr.textContent = p.meta ? `${p.meta} · ${p.address}` : p.address;
      who.append(addr);
      li.append(who);
      for (const field of ["to", "cc"]) {
        const add = doc.createElement("button");
        add.type = "button";
        add.className = "button small";
        add.textContent = labels[field];
        add.setAttribute("aria-label", `${labels[field]} ${p.address}`);
        add.addEventListener("click", () => {
          if (!chosen[field].includes(p.address)) chosen[field].push(p.address);
          show();
        });
        li.append(add);
      }
      return li;
    }));
  };
  q.addEventListener("input", search);
  criteria.forEach((c) => c.addEventListener(c.tagName === "SELECT" ? "change" : "input", search));
  q.addEventListener("keydown", (e) => {
    if (e.key === "Enter") e.preventDefault();
  });
  dialog.querySelector("[data-picker-ok]").addEventListener("click", () => {
    chosen.to.forEach((a) => appendAddress(form.querySelector("#to"), a));
    chosen.cc.forEach((a) => appendAddress(form.querySelector("#cc"), a));
  });
}

// signature keeps the chosen signature in the body, after the usual "-- "
// line (RFC 3676 §4.3): in place of the one it replaces, else above the
// quoted message of a reply or forward, else at the end. "No signature"
// takes it out.
function signature(form) {
  const select = form.querySelector("[data-signature]");
  const body = form.querySelector("[data-body]");
  if (!select || !body) return;
  let current = "";
  const apply = () => {
    const text = select.selectedOptions[0]?.dataset.text || "";
    const block = text ? `\n\n-- \n${text}` : "";
    const quote = body.dataset.quote ? `\n\n${body.dataset.quote}` : "";
    if (current && body.value.includes(current)) {
      body.value = body.value.replace(current, block);
    } else if (block && !body.value.includes(`-- \n${text}`)) {
      const at = quote ? body.value.indexOf(quote) : -1;
      body.value = at >= 0 ? body.value.slice(0, at) + block + body.value.slice(at)
        : body.value.replace(/\s*$/, "") + block;
    }
    current = block;
  };
  select.addEventListener("change", apply);
  if (select.value) apply();
}

function sizeText(n) {
  if (n < 1000) return `${n} o`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} Ko`;
  return `${(n / 1e6).toFixed(1)} Mo`;
}

// attachments collects files over several picks, checks the total against
// the limit before anything is sent, and sends the form with a progress bar.
function attachments(doc, form) {
  const input = form.querySelector("[data-files]");
  const picked = form.querySelector("[data-picked]");
  const error = form.querySelector("[data-size-error]");
  const progress = form.querySelector("[data-progress]");
  const limit = Number(form.dataset.limit) || 0;
  let files = [];

  const total = () => files.reduce((n, f) => n + f.size, 0) +
    [...form.querySelectorAll("input[name=keep]:checked")].reduce((n, c) => n + Number(c.dataset.size || 0), 0);
  const check = () => {
    const over = limit > 0 && total() > limit;
    error.hidden = !over;
    error.textContent = over ? form.dataset.tooBig : "";
    return !over;
  };
  const render = () => {
    const dt = new DataTransfer();
    files.forEach((f) => dt.items.add(f));
    input.files = dt.files;
    picked.replaceChildren(...files.map((f, i) => {
      const li = doc.createElement("li");
      const name = doc.createElement("span");
      name.textContent = f.name;
      const size = doc.createElement("span");
      size.className = "size";
      size.textContent = sizeText(f.size);
      const rm = doc.createElement("button");
      rm.type = "button";
      rm.className = "button ghost small";
      rm.textContent = doc.getElementById("picker-labels")?.dataset.remove || "×";
      rm.setAttribute("aria-label", `${rm.textContent} ${f.name}`);
      rm.addEventListener("click", () => {
        files.splice(i, 1);
        render();
      });
      li.append(name, size, rm);
      return li;
    }));
    check();
  };
  input?.addEventListener("change", () => {
    files = files.concat([...input.files]);
    render();
  });
  form.addEventListener("change", (e) => {
    if (e.target.name === "keep") check();
  });

  const confirmSend = confirmation(doc, form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!check()) {
      error.focus?.();
      return;
    }
    const action = e.submitter?.value || "send";
    if (action === "send" && !(await confirmSend())) return;
    const data = new FormData(form);
    data.set("action", action);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("X-Partial", "compose");
    xhr.responseType = "json";
    progress.hidden = false;
    progress.value = 0;
    form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
    xhr.upload.addEventListener("progress", (p) => {
      if (p.lengthComputable) progress.value = Math.round((p.loaded / p.total) * 100);
    });
    const done = () => {
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = false; });
      const res = xhr.response || {};
      if (res.redirect) {
        location.href = res.redirect;
        return;
      }
      progress.hidden = true;
      error.hidden = false;
      error.textContent = res.error || `HTTP ${xhr.status}`;
      if (res.draft) form.querySelector("input[name=draft]").value = res.draft;
    };
    xhr.addEventListener("load", done);
    xhr.addEventListener("error", done);
    xhr.send(data);
  });
}

// confirmation returns a function that, when the message has no subject or
// no text (a signature alone is no text), asks in the page whether to send
// it anyway, and resolves to the answer; otherwise it resolves to true.
function confirmation(doc, form) {
  const dialog = doc.querySelector("[data-confirm-send]");
  const subject = form.querySelector("#subject");
  const body = form.querySelector("[data-body]");
  return () => {
    const noSubject = !subject.value.trim();
    const noText = !body.value.replace(/(^|\n)-- \n[\s\S]*$/, "").trim();
    if (!dialog || typeof dialog.showModal !== "function" || (!noSubject && !noText)) return Promise.resolve(true);
    const texts = dialog.dataset;
    dialog.querySelector("[data-confirm-question]").textContent =
      noSubject && noText ? texts.empty : noSubject ? texts.noSubject : texts.noText;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "send"), { once: true });
    });
  };
}
