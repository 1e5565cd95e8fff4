// Light and dark themes: the system preference first, then the user's choice (localStorage).

const STORE_KEY = "cityos.theme";
const listeners = [];

export function theme() {
  return document.documentElement.dataset.theme || "light";
}

export function onChange(listener) {
  listeners.push(listener);
}

function set(name) {
  document.documentElement.dataset.theme = name;
  for (const listener of listeners) listener(name);
}

export function init() {
  const stored = localStorage.getItem(STORE_KEY);
  const dark = window.matchMedia?.("(prefers-color-scheme: dark)").matches;
  set(stored || (dark ? "dark" : "light"));
  const button = document.getElementById("theme-switch");
  if (button) {
    button.addEventListener("click", () => {
      const next = theme() === "dark" ? "light" : "dark";
      localStorage.setItem(STORE_KEY, next);
      set(next);
    });
  }
}
