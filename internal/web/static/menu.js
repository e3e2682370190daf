// Disclosure menus: the account menu under the initials and the folder
// drawer on phones. Escape and a click outside close them.

export function initMenus(doc) {
  const button = doc.getElementById("account-button");
  const menu = doc.getElementById("account-menu");
  if (button && menu) {
    const set = (open) => {
      menu.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open) menu.querySelector("a, button")?.focus();
    };
    button.addEventListener("click", () => set(menu.hidden));
    doc.addEventListener("click", (e) => {
      if (!menu.hidden && !menu.contains(e.target) && !button.contains(e.target)) set(false);
    });
    doc.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !menu.hidden) {
        set(false);
        button.focus();
      }
    });
  }
  const toggle = doc.querySelector("[data-nav-toggle]");
  if (toggle) {
    toggle.addEventListener("click", () => {
      const open = doc.body.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", String(open));
      if (open) doc.getElementById("folders")?.querySelector("a")?.focus();
    });
  }
}
