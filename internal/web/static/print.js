// The print view prints itself once laid out.
window.addEventListener("load", () => window.print());
