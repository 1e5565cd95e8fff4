// The start of the operator, scenario and citizen pages: the theme (the stored choice, else the
// system's), the language, and the theme switch's label in that language. onLanguage(lang) runs
// after each language switch, once the label is redrawn, for what the page itself shows.
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import * as theme from "./theme.js";

function themeLabel() {
  document.getElementById("theme-switch").textContent = t(theme.theme() === "dark" ? "theme.light" : "theme.dark");
}

export async function startPage(onLanguage = () => {}) {
  theme.init();
  await i18n.init();
  themeLabel();
  theme.onChange(themeLabel);
  i18n.onChange((lang) => {
    themeLabel();
    onLanguage(lang);
  });
}
