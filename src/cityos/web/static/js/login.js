// The staff login dialog of the dashboard and the operator page (#login-dialog, #login-open,
// #logout, #who): cookie session via auth.js; onChange(me) runs after the shared header
// (who is logged in, which button shows) is updated, for what the page itself shows.
import * as auth from "./auth.js";
import { t } from "./i18n.js";

export function bindLoginDialog(onChange = () => {}) {
  const dialog = document.getElementById("login-dialog");
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  document.getElementById("login-open").addEventListener("click", () => {
    error.textContent = "";
    dialog.showModal();
  });
  document.getElementById("login-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await auth.login(form.username.value, form.password.value);
      form.reset();
      dialog.close();
    } catch (err) {
      error.textContent = `${t("auth.failed")} ${err.message}`;
    }
  });
  document.getElementById("logout").addEventListener("click", () => auth.logout());
  auth.onChange((me) => {
    document.getElementById("who").textContent = me ? auth.describe(me) : "";
    document.getElementById("login-open").hidden = Boolean(me);
    document.getElementById("logout").hidden = !me;
    onChange(me);
  });
}
